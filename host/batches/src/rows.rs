//! Buffered datasets' rows: a guest's Arrow IPC output checked against the
//! dataset's declared columns and turned into typed JSON values (what the
//! buffer carries), and rows read back from the system database turned into
//! one Arrow batch for the tasks that read them.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type};
use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use serde_json::Value;
use trace_ipc::decode_ipc;
use trace_protocol::buffered::{ColumnType, TableSchema};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RowsError {
    #[error("batch {index} is not valid Arrow IPC: {message}")]
    Ipc { index: usize, message: String },
    #[error("the rows have no column `{0}`, which the buffered dataset declares")]
    Missing(String),
    #[error("the rows have column `{0}`, which the buffered dataset does not declare")]
    Undeclared(String),
    #[error("column `{column}` is {declared} and the rows have {got}")]
    WrongType { column: String, declared: &'static str, got: String },
    #[error("column `{column}` row {row}: {why}")]
    Value { column: String, row: usize, why: String },
}

/// `ipc_batches` as rows of `schema`'s columns, in its order.
pub fn rows_of(schema: &TableSchema, ipc_batches: &[Vec<u8>]) -> Result<Vec<Vec<Value>>, RowsError> {
    let mut out = Vec::new();
    for (index, bytes) in ipc_batches.iter().enumerate() {
        let batches = decode_ipc(bytes).map_err(|e| RowsError::Ipc { index, message: e.0.to_string() })?;
        for batch in batches {
            if let Some(extra) = batch.schema().fields().iter().find(|f| schema.column(f.name()).is_none()) {
                return Err(RowsError::Undeclared(extra.name().clone()));
            }
            let mut columns = Vec::with_capacity(schema.columns.len());
            for c in &schema.columns {
                let array = batch.column_by_name(&c.name).ok_or_else(|| RowsError::Missing(c.name.clone()))?;
                columns.push(values(&c.name, c.ty, c.required, array)?);
            }
            for row in 0..batch.num_rows() {
                out.push(columns.iter().map(|col| col[row].clone()).collect());
            }
        }
    }
    Ok(out)
}

fn values(column: &str, ty: ColumnType, required: bool, array: &ArrayRef) -> Result<Vec<Value>, RowsError> {
    let wrong = || RowsError::WrongType { column: column.to_owned(), declared: ty.as_str(), got: array.data_type().to_string() };
    let mut out = Vec::with_capacity(array.len());
    for row in 0..array.len() {
        if array.is_null(row) {
            if required {
                return Err(RowsError::Value { column: column.to_owned(), row, why: "required and null".into() });
            }
            out.push(Value::Null);
            continue;
        }
        let v = match (ty, array.data_type()) {
            (ColumnType::Text | ColumnType::Json, DataType::Utf8) => Value::String(array.as_string::<i32>().value(row).to_owned()),
            (ColumnType::Text | ColumnType::Json, DataType::LargeUtf8) => Value::String(array.as_string::<i64>().value(row).to_owned()),
            (ColumnType::Bool, DataType::Boolean) => Value::Bool(array.as_boolean().value(row)),
            (ColumnType::Int64, DataType::Int8) => Value::from(array.as_primitive::<Int8Type>().value(row)),
            (ColumnType::Int64, DataType::Int16) => Value::from(array.as_primitive::<Int16Type>().value(row)),
            (ColumnType::Int64, DataType::Int32) => Value::from(array.as_primitive::<Int32Type>().value(row)),
            (ColumnType::Int64, DataType::Int64) => Value::from(array.as_primitive::<Int64Type>().value(row)),
            (ColumnType::Int64, DataType::UInt8) => Value::from(array.as_primitive::<UInt8Type>().value(row)),
            (ColumnType::Int64, DataType::UInt16) => Value::from(array.as_primitive::<UInt16Type>().value(row)),
            (ColumnType::Int64, DataType::UInt32) => Value::from(array.as_primitive::<UInt32Type>().value(row)),
            (ColumnType::Int64, DataType::UInt64) => {
                let v = array.as_primitive::<UInt64Type>().value(row);
                let v = i64::try_from(v).map_err(|_| RowsError::Value { column: column.to_owned(), row, why: format!("{v} does not fit int64") })?;
                Value::from(v)
            }
            (ColumnType::Float64, DataType::Float32) => Value::from(f64::from(array.as_primitive::<Float32Type>().value(row))),
            (ColumnType::Float64, DataType::Float64) => {
                let v = array.as_primitive::<Float64Type>().value(row);
                if !v.is_finite() {
                    return Err(RowsError::Value { column: column.to_owned(), row, why: format!("{v} is not a finite number") });
                }
                Value::from(v)
            }
            _ => return Err(wrong()),
        };
        if ty == ColumnType::Json
            && let Value::String(s) = &v
            && let Err(e) = serde_json::from_str::<Value>(s)
        {
            return Err(RowsError::Value { column: column.to_owned(), row, why: format!("not JSON: {e}") });
        }
        out.push(v);
    }
    Ok(out)
}

/// The Arrow type a column reads back as.
pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Text | ColumnType::Json => DataType::Utf8,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
    }
}

/// Rows read back (`columns` named, `types` in the same order) as one batch.
pub fn batch_of(columns: &[String], types: &[ColumnType], rows: &[Vec<Value>]) -> Result<RecordBatch, RowsError> {
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (i, (name, ty)) in columns.iter().zip(types).enumerate() {
        fields.push(Field::new(name, arrow_type(*ty), true));
        let cell = |r: &Vec<Value>| r.get(i).cloned().unwrap_or(Value::Null);
        let array: ArrayRef = match ty {
            ColumnType::Text => Arc::new(rows.iter().map(|r| cell(r).as_str().map(str::to_owned)).collect::<StringArray>()),
            ColumnType::Json => Arc::new(rows.iter().map(|r| match cell(r) {
                Value::Null => None,
                Value::String(s) => Some(s),
                other => Some(other.to_string()),
            }).collect::<StringArray>()),
            ColumnType::Int64 => Arc::new(rows.iter().map(|r| cell(r).as_i64()).collect::<Int64Array>()),
            ColumnType::Float64 => Arc::new(rows.iter().map(|r| cell(r).as_f64()).collect::<Float64Array>()),
            ColumnType::Bool => Arc::new(rows.iter().map(|r| cell(r).as_bool()).collect::<BooleanArray>()),
        };
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| RowsError::Value { column: String::new(), row: 0, why: e.to_string() })
}

#[cfg(test)]
mod tests {
    use arrow_array::UInt64Array;

    use super::*;
    use crate::encode_ipc;

    fn alert_batch(keys: &[&str], times: &[u64]) -> Vec<u8> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("alert_key", DataType::Utf8, false),
            Field::new("severity", DataType::Utf8, false),
            Field::new("event_time", DataType::UInt64, false),
            Field::new("payload", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(schema, vec![
            Arc::new(StringArray::from(keys.to_vec())),
            Arc::new(StringArray::from(vec!["critical"; keys.len()])),
            Arc::new(UInt64Array::from(times.to_vec())),
            Arc::new(StringArray::from(vec![Some(r#"{"v":1}"#); keys.len()])),
        ]).unwrap();
        encode_ipc(&[batch]).unwrap()
    }

    #[test]
    fn alerts_round_trip_through_rows() {
        let schema = TableSchema::alert_events();
        let rows = rows_of(&schema, &[alert_batch(&["a", "b"], &[1, 2])]).unwrap();
        assert_eq!(rows[1], vec![Value::from("b"), Value::from("critical"), Value::from(2), Value::from(r#"{"v":1}"#)]);
        let names: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
        let types: Vec<ColumnType> = schema.columns.iter().map(|c| c.ty).collect();
        let batch = batch_of(&names, &types, &rows).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(2).as_primitive::<Int64Type>().value(1), 2);
    }

    #[test]
    fn rows_that_do_not_fit_the_declared_columns_are_refused_by_name() {
        let schema = TableSchema::alert_events();
        let err = rows_of(&schema, &[alert_batch(&["a"], &[u64::MAX])]).unwrap_err();
        assert_eq!(err.to_string(), format!("column `event_time` row 0: {} does not fit int64", u64::MAX));
        let mut narrow = schema.clone();
        narrow.columns.retain(|c| c.name != "payload");
        assert_eq!(rows_of(&narrow, &[alert_batch(&["a"], &[1])]).unwrap_err(), RowsError::Undeclared("payload".into()));
        let mut wide = schema.clone();
        wide.columns.push(trace_protocol::buffered::Column::new("extra", ColumnType::Text, false));
        assert_eq!(rows_of(&wide, &[alert_batch(&["a"], &[1])]).unwrap_err(), RowsError::Missing("extra".into()));
        let mut typed = schema;
        typed.columns[1].ty = ColumnType::Int64;
        assert!(matches!(rows_of(&typed, &[alert_batch(&["a"], &[1])]).unwrap_err(), RowsError::WrongType { column, .. } if column == "severity"));
    }
}
