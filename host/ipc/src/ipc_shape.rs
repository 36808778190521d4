//! What an Arrow IPC stream from a guest would expand to, read from its
//! message headers alone (no array is decoded): rows and array elements per
//! record batch, and its schema's width, depth and types.
//!
//! A few bytes of IPC can stand for a billion rows: a `Null` column has no
//! buffers, and a `FixedSizeList<Null>` of 2^30 per row has none either. The
//! sandbox charges these figures against the task's limits as each batch is
//! written, before the host does any work for it.
//!
//! Encodings that let one stored value stand for many rows (dictionaries,
//! run-end encoding, string and list views) are refused outright; Parquet
//! re-encodes repeated values by itself. Unions are refused too: nothing
//! downstream (Parquet, the SQL engine) stores them.

use arrow_ipc::{root_as_message, Field, MessageHeader, Type};

/// The stream's framing marker before each message's length.
const CONTINUATION: [u8; 4] = [0xFF; 4];

/// The figures of one IPC stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpcShape {
    /// Top-level columns of the schema.
    pub columns: usize,
    /// Fields of the schema, nested ones included.
    pub fields: usize,
    /// Deepest nesting of a field's type (a flat column is 0).
    pub depth: usize,
    /// Each record batch's rows and array elements (nested ones included).
    pub batches: Vec<BatchShape>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchShape {
    pub rows: u64,
    /// Every array node's length: columns' rows plus every child's elements.
    pub values: u64,
}

impl IpcShape {
    pub fn rows(&self) -> u64 {
        self.batches.iter().map(|b| b.rows).sum()
    }

    pub fn values(&self) -> u64 {
        self.batches.iter().map(|b| b.values).sum()
    }
}

/// Why a stream's shape could not be read or is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("batch is not a valid Arrow IPC stream: {0}")]
    Malformed(String),
    #[error("column {field:?} has type {kind}, which outputs may not use (dictionary, run-end encoded, view and union types let a few bytes stand for many rows); write plain arrays")]
    Refused { field: String, kind: &'static str },
}

/// Read the shape of one IPC stream (schema, then record batches, then an
/// optional end-of-stream marker), following the stream framing exactly as
/// arrow's `StreamDecoder` does, so no batch it would decode goes uncounted.
pub fn ipc_shape(bytes: &[u8]) -> Result<IpcShape, ShapeError> {
    let malformed = |what: &str| ShapeError::Malformed(what.to_owned());
    let mut shape = IpcShape::default();
    let mut schema_seen = false;
    let mut at = 0usize;
    while at < bytes.len() {
        let mut word = take4(bytes, &mut at).ok_or_else(|| malformed("truncated message length"))?;
        if word == CONTINUATION {
            word = take4(bytes, &mut at).ok_or_else(|| malformed("truncated message length"))?;
        }
        let len = u32::from_le_bytes(word) as usize;
        if len == 0 {
            // End of stream: the decoder refuses anything after it.
            if at != bytes.len() {
                return Err(malformed("data after the end-of-stream marker"));
            }
            break;
        }
        let header = bytes.get(at..at + len).ok_or_else(|| malformed("truncated message header"))?;
        at += len;
        let message = root_as_message(header).map_err(|e| ShapeError::Malformed(e.to_string()))?;
        let body = usize::try_from(message.bodyLength()).map_err(|_| malformed("negative body length"))?;
        at = at.checked_add(body).filter(|end| *end <= bytes.len()).ok_or_else(|| malformed("truncated message body"))?;
        match message.header_type() {
            MessageHeader::Schema => {
                if schema_seen {
                    return Err(malformed("a second schema"));
                }
                schema_seen = true;
                let schema = message.header_as_schema().ok_or_else(|| malformed("unreadable schema"))?;
                for field in schema.fields().into_iter().flatten() {
                    shape.columns += 1;
                    let depth = walk_field(&field, 0, &mut shape.fields)?;
                    shape.depth = shape.depth.max(depth);
                }
            }
            MessageHeader::RecordBatch => {
                if !schema_seen {
                    return Err(malformed("a record batch before the schema"));
                }
                let batch = message.header_as_record_batch().ok_or_else(|| malformed("unreadable record batch"))?;
                let rows = u64::try_from(batch.length()).map_err(|_| malformed("negative row count"))?;
                // Every buffer inside the message's body and 8-byte aligned,
                // as the format requires: arrow's decoder panics on one past
                // the body or misaligned for its type (found by
                // host/ipc/tests/fuzz.rs).
                for buffer in batch.buffers().into_iter().flatten() {
                    let (offset, length) = (u64::try_from(buffer.offset()).ok(), u64::try_from(buffer.length()).ok());
                    let inside = offset.zip(length).and_then(|(o, l)| o.checked_add(l)).is_some_and(|end| end <= body as u64);
                    if !inside {
                        return Err(malformed("a buffer outside the message body"));
                    }
                    if offset.is_some_and(|o| o % 8 != 0) {
                        return Err(malformed("a buffer not aligned to 8 bytes"));
                    }
                }
                let mut values = 0u64;
                for node in batch.nodes().into_iter().flatten() {
                    let len = u64::try_from(node.length()).map_err(|_| malformed("negative array length"))?;
                    values = values.saturating_add(len);
                }
                shape.batches.push(BatchShape { rows, values });
            }
            MessageHeader::DictionaryBatch => {
                return Err(ShapeError::Refused { field: String::new(), kind: "Dictionary" });
            }
            MessageHeader::NONE => {}
            _ => return Err(malformed("a message that is neither a schema nor a record batch")),
        }
    }
    Ok(shape)
}

fn take4(bytes: &[u8], at: &mut usize) -> Option<[u8; 4]> {
    let word = bytes.get(*at..*at + 4)?.try_into().ok()?;
    *at += 4;
    Some(word)
}

/// Count `field` and its children, refuse what outputs may not use, and
/// return how deep its type nests. The flatbuffer verifier has already
/// bounded the recursion (64 tables deep).
fn walk_field(field: &Field, depth: usize, fields: &mut usize) -> Result<usize, ShapeError> {
    *fields += 1;
    let name = || field.name().unwrap_or_default().to_owned();
    if field.dictionary().is_some() {
        return Err(ShapeError::Refused { field: name(), kind: "Dictionary" });
    }
    let refused = match field.type_type() {
        Type::Union => Some("Union"),
        Type::RunEndEncoded => Some("RunEndEncoded"),
        Type::BinaryView => Some("BinaryView"),
        Type::Utf8View => Some("Utf8View"),
        Type::ListView => Some("ListView"),
        Type::LargeListView => Some("LargeListView"),
        _ => None,
    };
    if let Some(kind) = refused {
        return Err(ShapeError::Refused { field: name(), kind });
    }
    let mut deepest = depth;
    for child in field.children().into_iter().flatten() {
        deepest = deepest.max(walk_field(&child, depth + 1, fields)?);
    }
    Ok(deepest)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{FixedSizeListBuilder, NullBuilder};
    use arrow_array::{ArrayRef, DictionaryArray, Int32Array, NullArray, RecordBatch, StringArray, UInt64Array};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::encode_ipc;

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    #[test]
    fn counts_rows_values_fields_and_depth() {
        let ids = Arc::new(UInt64Array::from_iter_values(0..10)) as ArrayRef;
        let names = Arc::new(StringArray::from_iter_values((0..10).map(|i| i.to_string()))) as ArrayRef;
        let b = batch(vec![("id", ids), ("name", names)]);
        let bytes = encode_ipc(&[b.clone(), b]).unwrap();
        let shape = ipc_shape(&bytes).unwrap();
        assert_eq!((shape.columns, shape.fields, shape.depth), (2, 2, 0));
        assert_eq!(shape.batches, vec![BatchShape { rows: 10, values: 20 }; 2]);
        assert_eq!((shape.rows(), shape.values()), (20, 40));
    }

    #[test]
    fn nulls_and_nested_nulls_count_what_they_expand_to() {
        // A billion rows in a few hundred bytes.
        let nulls = Arc::new(NullArray::new(1 << 30)) as ArrayRef;
        let bytes = encode_ipc(&[batch(vec![("n", nulls)])]).unwrap();
        assert!(bytes.len() < 1024, "{} bytes", bytes.len());
        assert_eq!(ipc_shape(&bytes).unwrap().batches, vec![BatchShape { rows: 1 << 30, values: 1 << 30 }]);

        // One row that holds 2^20 null elements.
        let mut list = FixedSizeListBuilder::new(NullBuilder::new(), 1 << 20);
        list.values().append_nulls(1 << 20);
        list.append(true);
        let bytes = encode_ipc(&[batch(vec![("l", Arc::new(list.finish()) as ArrayRef)])]).unwrap();
        let shape = ipc_shape(&bytes).unwrap();
        assert_eq!(shape.batches, vec![BatchShape { rows: 1, values: 1 + (1 << 20) }]);
        assert_eq!((shape.fields, shape.depth), (2, 1));
    }

    #[test]
    fn dictionaries_are_refused() {
        let keys = Int32Array::from(vec![0, 0, 0]);
        let dict = DictionaryArray::new(keys, Arc::new(StringArray::from(vec!["x"])));
        let bytes = encode_ipc(&[batch(vec![("d", Arc::new(dict) as ArrayRef)])]).unwrap();
        assert_eq!(ipc_shape(&bytes).unwrap_err(), ShapeError::Refused { field: "d".into(), kind: "Dictionary" });
    }

    #[test]
    fn garbage_and_truncation_are_malformed_not_panics() {
        let ids = Arc::new(UInt64Array::from_iter_values(0..10)) as ArrayRef;
        let bytes = encode_ipc(&[batch(vec![("id", ids)])]).unwrap();
        for cut in 0..bytes.len() {
            // Every prefix is either a valid shorter stream or an error.
            let _ = ipc_shape(&bytes[..cut]);
        }
        assert!(matches!(ipc_shape(b"not arrow"), Err(ShapeError::Malformed(_))));
        let mut trailing = bytes.clone();
        trailing.extend_from_slice(b"xx");
        assert!(matches!(ipc_shape(&trailing), Err(ShapeError::Malformed(_))));
        let schema = Schema::new(vec![Field::new("x", DataType::Int64, true)]);
        let empty = encode_ipc(&[RecordBatch::new_empty(Arc::new(schema))]).unwrap();
        assert_eq!(ipc_shape(&empty).unwrap().rows(), 0);
    }
}
