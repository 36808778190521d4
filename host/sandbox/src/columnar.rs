//! Arrow record batches ↔ the `columns` interface's typed columns, for guests
//! that have no Arrow library (the JavaScript and Python kits). Everything a
//! guest hands over is checked: lengths, offsets, widths, and that values fit
//! the Arrow type it asks for.

use std::str::FromStr;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Decimal256Type, DecimalType, Float64Type, Int64Type, UInt64Type};
use arrow_array::{
    make_array, Array, ArrayRef, BinaryArray, BooleanArray, FixedSizeBinaryArray, Float64Array,
    Int64Array, PrimitiveArray, RecordBatch, StringArray, UInt64Array,
};
use arrow_buffer::{i256, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_cast::cast::{cast_with_options, CastOptions};
use arrow_schema::{DataType, Field, Schema};

use crate::bindings::trace::operator::columns::{
    BinaryValues, Column, FixedBinaryValues, Values,
};

/// The typed columns of `batch`, or why a column cannot be handed over.
pub fn to_columns(batch: &RecordBatch) -> Result<Vec<Column>, String> {
    let schema = batch.schema();
    schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, array)| {
            let values = values_of(array).map_err(|e| format!("column `{}`: {e}", field.name()))?;
            let nulls = array.logical_nulls().map(|n| n.iter().map(|valid| !valid).collect());
            Ok(Column { name: field.name().clone(), arrow_type: field.data_type().to_string(), values, nulls })
        })
        .collect()
}

fn values_of(array: &ArrayRef) -> Result<Values, String> {
    use DataType::*;
    let cast_to = |to: &DataType| cast_with_options(array, to, &CastOptions::default()).map_err(|e| e.to_string());
    Ok(match array.data_type() {
        Int8 | Int16 | Int32 | Int64 | Date32 | Date64 | Time32(_) | Time64(_) | Timestamp(_, _)
        | Duration(_) => Values::Int64(cast_to(&Int64)?.as_primitive::<Int64Type>().values().to_vec()),
        UInt8 | UInt16 | UInt32 | UInt64 => {
            Values::Uint64(cast_to(&UInt64)?.as_primitive::<UInt64Type>().values().to_vec())
        }
        Float16 | Float32 | Float64 => {
            Values::Float64(cast_to(&Float64)?.as_primitive::<Float64Type>().values().to_vec())
        }
        Boolean => Values::Boolean(array.as_boolean().iter().map(|v| v.unwrap_or(false)).collect()),
        Utf8 | LargeUtf8 | Utf8View | Decimal32(_, _) | Decimal64(_, _) | Decimal128(_, _)
        | Decimal256(_, _) => {
            let strings = cast_to(&Utf8)?;
            Values::Utf8(strings.as_string::<i32>().iter().map(|v| v.unwrap_or("").to_owned()).collect())
        }
        Binary | LargeBinary | BinaryView => {
            let binary = cast_to(&Binary)?;
            let binary = binary.as_binary::<i32>();
            let offsets = binary.value_offsets();
            let (first, last) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
            Values::Binary(BinaryValues {
                offsets: offsets.iter().map(|&o| (o as usize - first) as u32).collect(),
                bytes: binary.value_data()[first..last].to_vec(),
            })
        }
        FixedSizeBinary(width) => {
            let fixed = array.as_fixed_size_binary();
            let len = fixed.len() * *width as usize;
            Values::FixedBinary(FixedBinaryValues { width: *width as u32, bytes: fixed.value_data()[..len].to_vec() })
        }
        other => {
            return Err(format!(
                "type {other} has no typed-column form; read this input as Arrow IPC with input.read-batch"
            ))
        }
    })
}

/// One record batch from a guest's columns.
pub fn from_columns(columns: Vec<Column>) -> Result<RecordBatch, String> {
    if columns.is_empty() {
        return Err("a batch needs at least one column".into());
    }
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays = Vec::with_capacity(columns.len());
    let mut rows = None;
    for column in columns {
        let name = column.name;
        let array = array_of(column.values, column.nulls, &column.arrow_type)
            .map_err(|e| format!("column `{name}`: {e}"))?;
        match rows {
            None => rows = Some((name.clone(), array.len())),
            Some((ref first, n)) if n != array.len() => {
                return Err(format!("column `{name}` has {} rows but column `{first}` has {n}", array.len()))
            }
            Some(_) => {}
        }
        fields.push(Field::new(name, array.data_type().clone(), array.null_count() > 0));
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| e.to_string())
}

fn array_of(values: Values, nulls: Option<Vec<bool>>, arrow_type: &str) -> Result<ArrayRef, String> {
    let to = match arrow_type {
        "" => None,
        t => Some(DataType::from_str(t).map_err(|e| format!("arrow-type `{t}`: {e}"))?),
    };
    // Decimals from big-endian two's-complement bytes: no per-row strings
    // for guests whose integers are bytes anyway (uint256 words).
    if let (Values::FixedBinary(f), Some(to @ (DataType::Decimal128(_, _) | DataType::Decimal256(_, _)))) = (&values, &to) {
        let decimals = decimal_array(f, to)?;
        return with_nulls(decimals, nulls);
    }
    let array: ArrayRef = match values {
        Values::Int64(v) => Arc::new(Int64Array::from(v)),
        Values::Uint64(v) => Arc::new(UInt64Array::from(v)),
        Values::Float64(v) => Arc::new(Float64Array::from(v)),
        Values::Boolean(v) => Arc::new(BooleanArray::from(v)),
        Values::Utf8(v) => Arc::new(StringArray::from(v)),
        Values::Binary(b) => Arc::new(binary_array(b)?),
        Values::FixedBinary(f) => Arc::new(fixed_binary_array(f)?),
    };
    let array = with_nulls(array, nulls)?;
    let Some(to) = to else { return Ok(array) };
    if &to == array.data_type() {
        return Ok(array);
    }
    // Not `safe`: a value that does not fit is an error, never a silent null.
    let options = CastOptions { safe: false, ..Default::default() };
    cast_with_options(&array, &to, &options).map_err(|e| format!("cannot cast to {to}: {e}"))
}

/// Decimal128 from 16-byte and Decimal256 from 32-byte big-endian values,
/// each checked against the type's precision.
fn decimal_array(f: &FixedBinaryValues, to: &DataType) -> Result<ArrayRef, String> {
    let width = match to {
        DataType::Decimal128(_, _) => 16,
        _ => 32,
    };
    if f.width != width || !f.bytes.len().is_multiple_of(width as usize) {
        return Err(format!("{to} from bytes needs {width}-byte big-endian values, got {}-byte ones", f.width));
    }
    let checked = |e: arrow_schema::ArrowError| format!("cannot cast to {to}: {e}");
    Ok(match *to {
        DataType::Decimal128(p, s) => Arc::new(decimals::<Decimal128Type>(&f.bytes, p, s, |c| i128::from_be_bytes(c.try_into().expect("16 bytes"))).map_err(checked)?),
        DataType::Decimal256(p, s) => Arc::new(decimals::<Decimal256Type>(&f.bytes, p, s, |c| i256::from_be_bytes(c.try_into().expect("32 bytes"))).map_err(checked)?),
        _ => unreachable!("only decimals reach here"),
    })
}

fn decimals<T: DecimalType>(
    bytes: &[u8],
    precision: u8,
    scale: i8,
    from_be: impl Fn(&[u8]) -> T::Native,
) -> Result<PrimitiveArray<T>, arrow_schema::ArrowError> {
    let array = PrimitiveArray::<T>::from_iter_values(bytes.chunks_exact(T::BYTE_LENGTH).map(from_be))
        .with_precision_and_scale(precision, scale)?;
    array.validate_decimal_precision(precision)?;
    Ok(array)
}

fn binary_array(b: BinaryValues) -> Result<BinaryArray, String> {
    let Some(&last) = b.offsets.last() else {
        return Err("binary offsets must have one entry more than rows (got none)".into());
    };
    if b.offsets[0] != 0 {
        return Err(format!("binary offsets must start at 0, got {}", b.offsets[0]));
    }
    if let Some(w) = b.offsets.windows(2).position(|w| w[0] > w[1]) {
        return Err(format!("binary offsets must not decrease (at row {w})"));
    }
    if last as usize != b.bytes.len() || last > i32::MAX as u32 {
        return Err(format!("binary offsets end at {last} but {} bytes were given", b.bytes.len()));
    }
    let offsets: Vec<i32> = b.offsets.into_iter().map(|o| o as i32).collect();
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    BinaryArray::try_new(offsets, Buffer::from_vec(b.bytes), None).map_err(|e| e.to_string())
}

fn fixed_binary_array(f: FixedBinaryValues) -> Result<FixedSizeBinaryArray, String> {
    if f.width == 0 || f.width > i32::MAX as u32 || !f.bytes.len().is_multiple_of(f.width as usize) {
        return Err(format!("{} bytes are not a whole number of {}-byte values", f.bytes.len(), f.width));
    }
    FixedSizeBinaryArray::try_new(f.width as i32, Buffer::from_vec(f.bytes), None).map_err(|e| e.to_string())
}

fn with_nulls(array: ArrayRef, nulls: Option<Vec<bool>>) -> Result<ArrayRef, String> {
    let Some(nulls) = nulls else { return Ok(array) };
    if nulls.len() != array.len() {
        return Err(format!("nulls has {} entries for {} rows", nulls.len(), array.len()));
    }
    let validity = NullBuffer::from(nulls.into_iter().map(|null| !null).collect::<Vec<_>>());
    let data = array.to_data().into_builder().nulls(Some(validity)).build().map_err(|e| e.to_string())?;
    Ok(make_array(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Decimal256Array, UInt32Array};

    fn column(name: &str, arrow_type: &str, values: Values, nulls: Option<Vec<bool>>) -> Column {
        Column { name: name.into(), arrow_type: arrow_type.into(), values, nulls }
    }

    #[test]
    fn round_trips_through_the_guest_types() {
        let schema = Schema::new(vec![
            Field::new("n", DataType::UInt32, false),
            Field::new("s", DataType::Utf8, true),
            Field::new("b", DataType::Binary, false),
            Field::new("f", DataType::FixedSizeBinary(2), false),
            Field::new("d", DataType::Decimal256(76, 0), false),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(UInt32Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc")])),
                Arc::new(BinaryArray::from(vec![&b"x"[..], b"", b"yz"])),
                Arc::new(FixedSizeBinaryArray::try_from_iter([[1u8, 2], [3, 4], [5, 6]].into_iter()).unwrap()),
                Arc::new(
                    Decimal256Array::from(vec![i256::from(7), i256::from_string("1000000000000000000000000000000").unwrap(), i256::from(0)])
                        .with_precision_and_scale(76, 0)
                        .unwrap(),
                ),
            ],
        )
        .unwrap();
        let columns = to_columns(&batch.slice(1, 2)).unwrap();
        assert_eq!(columns[0].arrow_type, "UInt32");
        assert!(matches!(&columns[0].values, Values::Uint64(v) if v == &[2, 3]));
        assert_eq!(columns[1].nulls, Some(vec![true, false]));
        assert!(matches!(&columns[2].values, Values::Binary(b) if b.offsets == [0, 0, 2] && b.bytes == b"yz"));
        assert!(matches!(&columns[3].values, Values::FixedBinary(f) if f.width == 2 && f.bytes == [3, 4, 5, 6]));
        assert!(matches!(&columns[4].values, Values::Utf8(v) if v[0] == "1000000000000000000000000000000"));

        let back = from_columns(columns).unwrap();
        assert_eq!(back, batch.slice(1, 2));
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let too_big = column("n", "UInt32", Values::Uint64(vec![1 << 40]), None);
        let err = from_columns(vec![too_big]).unwrap_err();
        assert!(err.contains("column `n`: cannot cast to UInt32"), "{err}");

        let ragged = vec![
            column("a", "", Values::Int64(vec![1, 2]), None),
            column("b", "", Values::Int64(vec![1]), None),
        ];
        assert_eq!(from_columns(ragged).unwrap_err(), "column `b` has 1 rows but column `a` has 2");

        let bad_offsets = column("b", "", Values::Binary(BinaryValues { offsets: vec![0, 5], bytes: vec![1] }), None);
        assert!(from_columns(vec![bad_offsets]).unwrap_err().contains("offsets end at 5 but 1 bytes"));

        let bad_width = column("f", "", Values::FixedBinary(FixedBinaryValues { width: 3, bytes: vec![0; 4] }), None);
        assert!(from_columns(vec![bad_width]).unwrap_err().contains("not a whole number of 3-byte values"));

        let bad_type = column("n", "NotAType", Values::Int64(vec![1]), None);
        assert!(from_columns(vec![bad_type]).unwrap_err().contains("arrow-type `NotAType`"));

        let mut word = vec![0u8; 32];
        word[31] = 7;
        let decimal = column("d", "Decimal256(76, 0)", Values::FixedBinary(FixedBinaryValues { width: 32, bytes: word }), None);
        let batch = from_columns(vec![decimal]).unwrap();
        let d = batch.column(0).as_any().downcast_ref::<Decimal256Array>().unwrap();
        assert_eq!(d.value(0), i256::from(7));
        let huge = column("d", "Decimal256(76, 0)", Values::FixedBinary(FixedBinaryValues { width: 32, bytes: vec![0x7f; 32] }), None);
        assert!(from_columns(vec![huge]).unwrap_err().contains("cannot cast to Decimal256(76, 0)"));
        let narrow = column("d", "Decimal128(38, 0)", Values::FixedBinary(FixedBinaryValues { width: 32, bytes: vec![0; 32] }), None);
        assert!(from_columns(vec![narrow]).unwrap_err().contains("needs 16-byte big-endian values, got 32-byte"));

        let bad_nulls = column("n", "", Values::Int64(vec![1]), Some(vec![true, false]));
        assert!(from_columns(vec![bad_nulls]).unwrap_err().contains("nulls has 2 entries for 1 rows"));
    }
}

#[cfg(test)]
#[path = "columnar_fuzz.rs"]
mod fuzz;
