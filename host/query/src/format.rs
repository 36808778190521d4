//! A result in the formats callers ask for: a table for a terminal, JSON
//! (an array of objects), CSV, and an Arrow IPC stream.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::engine::QueryResult;
use crate::error::QueryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
    Arrow,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "arrow" => Ok(Format::Arrow),
            other => Err(format!("unknown format {other:?}: expected table, json, csv or arrow")),
        }
    }
}

/// The result's rows in `format`.
pub fn render(result: &QueryResult, format: Format) -> Result<Vec<u8>, QueryError> {
    let failed = |e: arrow::error::ArrowError| QueryError::Setup(format!("writing the result: {e}"));
    let batches = &result.batches;
    match format {
        Format::Table => {
            let mut out = arrow::util::pretty::pretty_format_batches(&non_empty(&result.schema, batches)).map_err(failed)?.to_string();
            out.push('\n');
            Ok(out.into_bytes())
        }
        Format::Json => {
            let mut writer = arrow::json::ArrayWriter::new(Vec::new());
            for b in batches {
                writer.write(b).map_err(failed)?;
            }
            writer.finish().map_err(failed)?;
            let mut out = writer.into_inner();
            if out.is_empty() {
                out.extend_from_slice(b"[]");
            }
            out.push(b'\n');
            Ok(out)
        }
        Format::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(Vec::new());
            for b in &non_empty(&result.schema, batches) {
                writer.write(b).map_err(failed)?;
            }
            Ok(writer.into_inner())
        }
        Format::Arrow => {
            let mut writer = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &result.schema).map_err(failed)?;
            for b in batches {
                writer.write(b).map_err(failed)?;
            }
            writer.finish().map_err(failed)?;
            writer.into_inner().map_err(failed)
        }
    }
}

/// `batches`, or one empty batch of `schema` so headers still print.
fn non_empty(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<RecordBatch> {
    if batches.is_empty() { vec![RecordBatch::new_empty(schema.clone())] } else { batches.to_vec() }
}
