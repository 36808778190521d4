//! Arrow IPC streams are what guests hand the host for every output batch:
//! hostile bytes. Arbitrary bytes and valid streams garbled (bytes flipped,
//! lengths overwritten with extremes, cut short, spliced) never panic the
//! shape reader or the decoder, and whatever both accept decodes to exactly
//! the rows the shape reader counted (the sandbox charges a task's limits
//! on those counts before the host decodes anything). A fixed number of
//! cases, so CI time is bounded.
//!
//! Found: arrow's decoder panics on a buffer reaching past the message
//! body, on one misaligned for its type and on one whose length is not a
//! whole number of its values. The shape reader now refuses buffers past
//! the body or off 8-byte alignment, and `decode_ipc` turns any panic in the
//! decoder into an error (a hostile guest could otherwise take its worker
//! down).

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, BinaryArray, BooleanArray, Decimal128Array, Int64Array, RecordBatch, StringArray, StructArray};
use arrow_schema::{DataType, Field, Fields};
use proptest::prelude::*;
use trace_ipc::{decode_ipc, encode_ipc, ipc_shape};

/// Valid streams of the types outputs use: flat, nullable, nested.
fn valid_streams() -> Vec<Vec<u8>> {
    let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(i64::MIN), Some(i64::MAX)]));
    let text: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), Some(""), None, Some("\u{202e}x")]));
    let flags: ArrayRef = Arc::new(BooleanArray::from(vec![true, false, true, false]));
    let bytes: ArrayRef = Arc::new(BinaryArray::from(vec![&b"\x00"[..], b"", b"xyz", b"\xff\xfe"]));
    let decimals: ArrayRef = Arc::new(Decimal128Array::from(vec![1, -1, 0, i128::MAX]).with_precision_and_scale(38, 0).unwrap());
    let mut list = ListBuilder::new(StringBuilder::new());
    for row in [vec!["a", "b"], vec![], vec!["c"], vec!["d", "e", "f"]] {
        for v in row {
            list.values().append_value(v);
        }
        list.append(true);
    }
    let list: ArrayRef = Arc::new(list.finish());
    let fields = Fields::from(vec![Field::new("n", DataType::Int64, true), Field::new("s", DataType::Utf8, true)]);
    let nested: ArrayRef = Arc::new(StructArray::new(fields, vec![ints.clone(), text.clone()], None));
    let flat = RecordBatch::try_from_iter([("n", ints), ("s", text), ("b", flags), ("x", bytes), ("d", decimals)]).unwrap();
    let deep = RecordBatch::try_from_iter([("l", list), ("st", nested)]).unwrap();
    vec![
        encode_ipc(&[flat.clone()]).unwrap(),
        encode_ipc(&[flat.clone(), flat.slice(1, 2)]).unwrap(),
        encode_ipc(&[deep]).unwrap(),
        encode_ipc(&[flat.slice(0, 0)]).unwrap(),
    ]
}

/// One change to a valid stream.
#[derive(Debug, Clone)]
enum Garble {
    Flip(usize, u8),
    /// A little-endian i32 written at an offset: lengths, counts, offsets.
    Word(usize, i32),
    Cut(usize),
    Repeat(usize, usize),
}

fn garble() -> impl Strategy<Value = Garble> {
    let extreme = prop_oneof![Just(i32::MAX), Just(i32::MIN), Just(-1), Just(0), Just(1 << 30), any::<i32>()];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Garble::Flip(at, b)),
        (any::<usize>(), extreme).prop_map(|(at, w)| Garble::Word(at, w)),
        any::<usize>().prop_map(Garble::Cut),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Garble::Repeat(at, n)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Garble]) -> Vec<u8> {
    for e in edits {
        if bytes.is_empty() {
            break;
        }
        let n = bytes.len();
        match *e {
            Garble::Flip(at, b) => bytes[at % n] ^= b.max(1),
            Garble::Word(at, w) => {
                // On a 4-byte boundary, where flatbuffer fields and lengths sit.
                let at = (at % n) & !3;
                for (i, b) in w.to_le_bytes().into_iter().enumerate() {
                    if let Some(slot) = bytes.get_mut(at + i) {
                        *slot = b;
                    }
                }
            }
            Garble::Cut(at) => bytes.truncate(at % n),
            Garble::Repeat(at, len) => {
                let at = at % n;
                let piece: Vec<u8> = bytes[at..(at + len).min(n)].to_vec();
                bytes.splice(at..at, piece);
            }
        }
    }
    bytes
}

/// The property: no panic; what both accept has the counted rows.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let shape = ipc_shape(bytes);
    let decoded = decode_ipc(bytes);
    match (&shape, &decoded) {
        (Ok(shape), Ok(batches)) => {
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            prop_assert_eq!(shape.rows(), rows as u64, "the shape reader counted other rows than the decoder yields");
        }
        // A panic inside arrow's decoder comes back as an error (checked
        // by reaching here at all); the shape reader refuses what it can see
        // from the headers (buffers past the body or misaligned).
        _ => {}
    }
    Ok(())
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config(3_000))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&bytes)?;
    }
}

proptest! {
    #![proptest_config(config(5_000))]

    #[test]
    fn garbled_valid_streams(which in 0usize..4, edits in proptest::collection::vec(garble(), 1..6)) {
        let base = valid_streams().swap_remove(which);
        check(&apply(base, &edits))?;
    }
}

#[test]
fn the_valid_streams_pass_both() {
    for bytes in valid_streams() {
        let shape = ipc_shape(&bytes).unwrap();
        let rows: usize = decode_ipc(&bytes).unwrap().iter().map(RecordBatch::num_rows).sum();
        assert_eq!(shape.rows(), rows as u64);
    }
}

/// The crashers found, as cases of their own: every 4-byte word of a valid
/// stream overwritten with extremes (buffer offsets and lengths among
/// them) and one byte flipped everywhere; nothing panics, and buffers past
/// the body are refused by their shape.
#[test]
fn found_crashers_stay_fixed() {
    let mut past_the_body = 0;
    for base in valid_streams() {
        for at in (0..base.len()).step_by(4) {
            for word in [i32::MAX, 1 << 30, -1] {
                let bytes = apply(base.clone(), &[Garble::Word(at, word)]);
                if let Err(e) = ipc_shape(&bytes) {
                    past_the_body += usize::from(e.to_string().contains("a buffer outside the message body"));
                }
                let _ = decode_ipc(&bytes);
            }
        }
        for at in 0..base.len() {
            let _ = decode_ipc(&apply(base.clone(), &[Garble::Flip(at, 41)]));
        }
    }
    assert!(past_the_body > 0);
}
