//! A result in the formats callers ask for: a table for a terminal, JSON
//! (an array of objects), CSV, an Arrow IPC stream and Parquet.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::engine::{parquet_properties, QueryResult};
use crate::error::QueryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
    Arrow,
    Parquet,
}

impl Format {
    /// Every format, by name.
    pub const NAMES: [&'static str; 5] = ["table", "json", "csv", "arrow", "parquet"];

    /// The media type a response in this format has.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Table => "text/plain; charset=utf-8",
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.stream",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }

    /// The format an `Accept` media type asks for, if any.
    pub fn from_media_type(accept: &str) -> Option<Format> {
        let essence = accept.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Some(Format::Json),
            "text/csv" => Some(Format::Csv),
            "application/vnd.apache.arrow.stream" => Some(Format::Arrow),
            "application/vnd.apache.parquet" | "application/x-parquet" => Some(Format::Parquet),
            "text/plain" => Some(Format::Table),
            _ => None,
        }
    }
}


impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "arrow" => Ok(Format::Arrow),
            "parquet" => Ok(Format::Parquet),
            other => Err(format!("unknown format {other:?}: expected one of {}", Format::NAMES.join(", "))),
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
            if let Some(f) = result.schema.fields().iter().find(|f| f.data_type().is_nested()) {
                return Err(QueryError::Unrepresentable { format: "CSV", column: f.name().clone(), data_type: f.data_type().to_string() });
            }
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
        Format::Parquet => {
            let failed = |e: parquet::errors::ParquetError| QueryError::Setup(format!("writing the result: {e}"));
            let mut writer = parquet::arrow::ArrowWriter::try_new(Vec::new(), result.schema.clone(), Some(parquet_properties())).map_err(failed)?;
            for b in batches {
                writer.write(b).map_err(failed)?;
            }
            writer.into_inner().map_err(failed)
        }
    }
}

/// `batches`, or one empty batch of `schema` so headers still print.
fn non_empty(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<RecordBatch> {
    if batches.is_empty() { vec![RecordBatch::new_empty(schema.clone())] } else { batches.to_vec() }
}
