//! The example UDF's logic as plain Rust: decode ERC-20 `Transfer` logs and
//! keep those moving at least a threshold amount. The component in
//! `operators/erc20_transfers` and the native baseline in the benchmarks both
//! call [`filter_transfers`], so their outputs and speeds compare directly.

mod synthetic;

use std::sync::Arc;

use arrow_array::{Array, ArrowNativeTypeOp, BinaryArray, Decimal256Array, FixedSizeBinaryArray, RecordBatch, UInt32Array, UInt64Array};
use arrow_buffer::{i256, Buffer};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};

pub use synthetic::{synthetic_logs, APPROVAL_TOPIC};

/// keccak256("Transfer(address,address,uint256)").
pub const TRANSFER_TOPIC: [u8; 32] = [
    0xdd, 0xf2, 0x52, 0xad, 0x1b, 0xe2, 0xc8, 0x9b, 0x69, 0xc2, 0xb0, 0x68, 0xfc, 0x37, 0x8d, 0xaa,
    0x95, 0x2b, 0xa7, 0xf1, 0x63, 0xc4, 0xa1, 0x16, 0x28, 0xf5, 0x5a, 0x4d, 0xf5, 0x23, 0xb3, 0xef,
];

/// Largest precision Arrow's Decimal256 holds; values of 10^76 or more
/// cannot be represented and are dropped (no real token gets near it).
const VALUE_PRECISION: u8 = 76;

/// Schema of the `logs` input.
pub fn logs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("block_number", DataType::UInt64, false),
        Field::new("log_index", DataType::UInt32, false),
        Field::new("address", DataType::FixedSizeBinary(20), false),
        Field::new("topic0", DataType::FixedSizeBinary(32), true),
        Field::new("topic1", DataType::FixedSizeBinary(32), true),
        Field::new("topic2", DataType::FixedSizeBinary(32), true),
        Field::new("data", DataType::Binary, false),
    ]))
}

/// `logs` in [`logs_schema`]'s form: the synthetic source's batches as they
/// are, and cryo's `logs` table (what `evm_source` writes: a 32-bit
/// `block_number`, addresses and topics as plain binary) converted. Other
/// columns are dropped; a value of the wrong width is an error.
pub fn normalize_logs(logs: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = logs_schema();
    if logs.schema().fields().len() == schema.fields().len() && logs.schema().fields().iter().zip(schema.fields()).all(|(a, b)| a.data_type() == b.data_type() && a.name() == b.name()) {
        return Ok(logs.clone());
    }
    let any = |name: &str| logs.column_by_name(name).ok_or_else(|| ArrowError::SchemaError(format!("input has no column `{name}`")));
    let block: Arc<dyn Array> = match any("block_number")?.data_type() {
        DataType::UInt32 => {
            let narrow = column::<UInt32Array>(logs, "block_number")?;
            Arc::new(narrow.values().iter().map(|n| u64::from(*n)).collect::<UInt64Array>())
        }
        _ => Arc::new(column::<UInt64Array>(logs, "block_number")?.clone()),
    };
    let fixed = |name: &str, width: i32| -> Result<Arc<dyn Array>, ArrowError> {
        let array = any(name)?;
        if let Some(f) = array.as_any().downcast_ref::<FixedSizeBinaryArray>() {
            return Ok(Arc::new(f.clone()));
        }
        let binary = column::<BinaryArray>(logs, name)?;
        let values: Vec<Option<&[u8]>> = binary.iter().collect();
        if let Some(bad) = values.iter().flatten().find(|v| v.len() != width as usize) {
            return Err(ArrowError::SchemaError(format!("column `{name}` holds a {}-byte value; it must be {width} bytes wide", bad.len())));
        }
        Ok(Arc::new(FixedSizeBinaryArray::try_from_sparse_iter_with_size(values.into_iter(), width)?))
    };
    RecordBatch::try_new(
        schema,
        vec![block, any("log_index")?.clone(), fixed("address", 20)?, fixed("topic0", 32)?, fixed("topic1", 32)?, fixed("topic2", 32)?, any("data")?.clone()],
    )
}

/// Schema of the `transfers` output.
pub fn transfers_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("block_number", DataType::UInt64, false),
        Field::new("log_index", DataType::UInt32, false),
        Field::new("token", DataType::FixedSizeBinary(20), false),
        Field::new("from", DataType::FixedSizeBinary(20), false),
        Field::new("to", DataType::FixedSizeBinary(20), false),
        Field::new("value", DataType::Decimal256(VALUE_PRECISION, 0), false),
    ]))
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, ArrowError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("input has no column `{name}`")))?
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| ArrowError::SchemaError(format!("column `{name}` has the wrong type")))
}

/// The ERC-20 transfers in `logs` whose value is at least `min_value`.
///
/// Two passes over plain slices (fixed-width values by index, variable-width
/// `data` through its offsets) rather than per-row accessors: the first picks
/// the kept rows and decodes their values, the second gathers each output
/// column on its own. Each loop keeps few values live, so it compiles as well
/// to wasm (whose compiler has fewer registers to spare) as to native.
pub fn filter_transfers(logs: &RecordBatch, min_value: u128) -> Result<RecordBatch, ArrowError> {
    filter_transfers_in(logs, min_value, None)
}

/// [`filter_transfers`], keeping only logs of blocks in `[start, end)` when
/// a range is given: a task for one window may be handed a file that spans
/// more (a source run over a wider range), and must not write rows of other
/// windows into its own partition.
pub fn filter_transfers_in(logs: &RecordBatch, min_value: u128, blocks: Option<(u64, u64)>) -> Result<RecordBatch, ArrowError> {
    let block = column::<UInt64Array>(logs, "block_number")?.values();
    let log_index = column::<UInt32Array>(logs, "log_index")?.values();
    let address = Fixed::<20>::new(logs, "address")?;
    let topic0 = Fixed::<32>::new(logs, "topic0")?;
    let topic1 = Fixed::<32>::new(logs, "topic1")?;
    let topic2 = Fixed::<32>::new(logs, "topic2")?;
    let data = column::<BinaryArray>(logs, "data")?;
    let (offsets, bytes) = (data.value_offsets(), data.value_data());
    let threshold = i256::from_i128(i128::try_from(min_value).unwrap_or(i128::MAX));
    let max_value = i256::from_i128(10).pow_wrapping(u32::from(VALUE_PRECISION));
    let (kept, value) = select_transfers(topic0.bytes, offsets, bytes, |raw| decode_value(raw, min_value, threshold, max_value));
    // Rows with a null topic are not transfers; nulls are rare, so they are
    // dropped after the hot loop rather than tested in it.
    let (kept, value) = if topic0.has_nulls() || topic1.has_nulls() || topic2.has_nulls() {
        kept.into_iter()
            .zip(value)
            .filter(|&(row, _)| !(topic0.is_null(row) || topic1.is_null(row) || topic2.is_null(row)))
            .unzip()
    } else {
        (kept, value)
    };
    // Like the nulls, rows outside the range are dropped from the few kept.
    let (kept, value): (Vec<usize>, Vec<i256>) = match blocks {
        Some((start, end)) if kept.iter().any(|&row| !(start..end).contains(&block[row])) => {
            kept.into_iter().zip(value).filter(|&(row, _)| (start..end).contains(&block[row])).unzip()
        }
        _ => (kept, value),
    };

    let fixed = |values: Vec<[u8; 20]>| FixedSizeBinaryArray::try_new(20, Buffer::from_vec(values.into_flattened()), None);
    let block: Vec<u64> = kept.iter().map(|&row| block[row]).collect();
    let log_index: Vec<u32> = kept.iter().map(|&row| log_index[row]).collect();
    let token: Vec<[u8; 20]> = kept.iter().map(|&row| *address.get(row)).collect();
    let from: Vec<[u8; 20]> = kept.iter().map(|&row| last_20(topic1.get(row))).collect();
    let to: Vec<[u8; 20]> = kept.iter().map(|&row| last_20(topic2.get(row))).collect();
    RecordBatch::try_new(
        transfers_schema(),
        vec![
            Arc::new(UInt64Array::from(block)),
            Arc::new(UInt32Array::from(log_index)),
            Arc::new(fixed(token)?),
            Arc::new(fixed(from)?),
            Arc::new(fixed(to)?),
            Arc::new(Decimal256Array::from(value).with_precision_and_scale(VALUE_PRECISION, 0)?),
        ],
    )
}

/// The rows whose `topic0` is the `Transfer` signature and whose 32-byte
/// `data` word `decode` accepts, with the decoded values. Kept out of line so
/// that the loop is compiled as a small function of its own: inlined into a
/// whole operator, wasm's compiler ran out of registers and spilled every
/// value of it.
#[inline(never)]
fn select_transfers(topic0: &[u8], offsets: &[i32], bytes: &[u8], decode: impl Fn(&[u8; 32]) -> Option<i256>) -> (Vec<usize>, Vec<i256>) {
    let transfer = Words::of(&TRANSFER_TOPIC);
    let rows = topic0.len() / 32;
    let (mut kept, mut value) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    for (row, (topic, ends)) in topic0.chunks_exact(32).zip(offsets.windows(2)).enumerate() {
        if !Words::of(topic.try_into().expect("32 bytes")).is(&transfer) {
            continue;
        }
        let Some(raw) = bytes.get(ends[0] as usize..ends[1] as usize) else { continue };
        let Ok(raw) = <&[u8; 32]>::try_from(raw) else { continue };
        if let Some(v) = decode(raw) {
            kept.push(row);
            value.push(v);
        }
    }
    (kept, value)
}

/// The transfer's value if it is at least the threshold and storable.
#[inline(always)]
fn decode_value(raw: &[u8; 32], min_value: u128, threshold: i256, max_value: i256) -> Option<i256> {
    let (high, low) = raw.split_at(16);
    // One 128-bit compare (a byte loop stays a byte loop in wasm).
    if u128::from_ne_bytes(high.try_into().expect("16 bytes")) == 0 {
        // Fast path: the value fits in 128 bits (nearly every real transfer);
        // one byte swap instead of two, and a plain integer compare.
        let low = u128::from_be_bytes(low.try_into().expect("16 bytes"));
        return (low >= min_value).then(|| i256::from_parts(low, 0));
    }
    // A uint256 at or above 2^255 reads as negative; it cannot be stored.
    let value = i256::from_be_bytes(*raw);
    (value >= threshold && !value.is_negative() && value < max_value).then_some(value)
}

/// A fixed-size binary column of width `N` as one byte slice, so row `i`
/// is `&[u8; N]`: constant-size copies and compares, no per-row calls.
struct Fixed<'a, const N: usize> {
    bytes: &'a [u8],
    array: &'a FixedSizeBinaryArray,
}

impl<'a, const N: usize> Fixed<'a, N> {
    fn new(batch: &'a RecordBatch, name: &str) -> Result<Self, ArrowError> {
        let array = column::<FixedSizeBinaryArray>(batch, name)?;
        if array.value_length() as usize != N {
            return Err(ArrowError::SchemaError(format!("column `{name}` must be {N} bytes wide, is {}", array.value_length())));
        }
        // `value_data` starts at this (possibly sliced) array's first value.
        let bytes = &array.value_data()[..array.len() * N];
        Ok(Self { bytes, array })
    }

    #[inline(always)]
    fn get(&self, row: usize) -> &'a [u8; N] {
        self.bytes[row * N..row * N + N].try_into().expect("N bytes")
    }

    fn has_nulls(&self) -> bool {
        self.array.null_count() > 0
    }

    fn is_null(&self, row: usize) -> bool {
        self.array.is_null(row)
    }
}

/// An address from a 32-byte topic word (its last 20 bytes).
#[inline(always)]
fn last_20(word: &[u8; 32]) -> [u8; 20] {
    word[12..].try_into().expect("20 bytes")
}

/// A 32-byte word as four integers: compares without a `memcmp` call.
struct Words([u64; 4]);

impl Words {
    #[inline(always)]
    fn of(b: &[u8; 32]) -> Self {
        let w = |i: usize| u64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Self([w(0), w(1), w(2), w(3)])
    }

    /// Equality as one branch on the words' differences, so the words stay
    /// in registers (a derived `==` on the array went through memory in wasm).
    #[inline(always)]
    fn is(&self, other: &Self) -> bool {
        let [a, b, c, d] = self.0;
        let [e, f, g, h] = other.0;
        ((a ^ e) | (b ^ f) | (c ^ g) | (d ^ h)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `logs` as evm_source writes them: cryo's types and an extra column.
    fn as_cryo(logs: &RecordBatch) -> RecordBatch {
        let binary = |name: &str| -> Arc<dyn Array> {
            let f = logs.column_by_name(name).unwrap().as_any().downcast_ref::<FixedSizeBinaryArray>().unwrap();
            Arc::new(f.iter().collect::<BinaryArray>())
        };
        let block = logs.column_by_name("block_number").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
        let schema = Schema::new(vec![
            Field::new("block_number", DataType::UInt32, false),
            Field::new("log_index", DataType::UInt32, false),
            Field::new("address", DataType::Binary, false),
            Field::new("topic0", DataType::Binary, true),
            Field::new("topic1", DataType::Binary, true),
            Field::new("topic2", DataType::Binary, true),
            Field::new("data", DataType::Binary, false),
            Field::new("chain_id", DataType::UInt64, false),
        ]);
        RecordBatch::try_new(Arc::new(schema), vec![
            Arc::new(block.values().iter().map(|n| *n as u32).collect::<UInt32Array>()),
            logs.column_by_name("log_index").unwrap().clone(),
            binary("address"), binary("topic0"), binary("topic1"), binary("topic2"),
            logs.column_by_name("data").unwrap().clone(),
            Arc::new(UInt64Array::from(vec![1u64; logs.num_rows()])),
        ]).unwrap()
    }

    #[test]
    fn cryo_logs_filter_like_the_synthetic_form() {
        let logs = synthetic_logs(1_000, 500, 7);
        let normalized = normalize_logs(&as_cryo(&logs)).unwrap();
        assert_eq!(normalized, logs);
        assert_eq!(filter_transfers(&normalized, 1000).unwrap(), filter_transfers(&logs, 1000).unwrap());
        // A 19-byte address is refused, by name.
        let mut cryo = as_cryo(&logs.slice(0, 1));
        let short: Arc<dyn Array> = Arc::new(BinaryArray::from(vec![&[0u8; 19][..]]));
        let mut columns = cryo.columns().to_vec();
        columns[2] = short;
        cryo = RecordBatch::try_new(cryo.schema(), columns).unwrap();
        assert!(normalize_logs(&cryo).unwrap_err().to_string().contains("`address` holds a 19-byte value"));
    }

    #[test]
    fn keeps_only_transfers_at_or_above_the_threshold() {
        let logs = synthetic_logs(100, 1000, 7);
        let all = filter_transfers(&logs, 0).unwrap();
        let big = filter_transfers(&logs, 1_000_000).unwrap();
        assert!(all.num_rows() > 0 && all.num_rows() < logs.num_rows(), "approvals are dropped");
        assert!(big.num_rows() < all.num_rows(), "the threshold drops small transfers");
        let values = big.column(5).as_any().downcast_ref::<arrow_array::Decimal256Array>().unwrap();
        assert!(values.iter().all(|v| v.unwrap() >= i256::from_i128(1_000_000)));
    }

    #[test]
    fn a_sliced_batch_keeps_exactly_the_rows_of_its_slice() {
        let logs = synthetic_logs(0, 2_000, 11);
        let full = filter_transfers(&logs, 1_000).unwrap();
        let part = filter_transfers(&logs.slice(700, 300), 1_000).unwrap();
        // Row i of the input is block i / 10, log index i % 10.
        let position = |b: &RecordBatch, r: usize| {
            let block = b.column(0).as_any().downcast_ref::<UInt64Array>().unwrap().value(r);
            let index = b.column(1).as_any().downcast_ref::<UInt32Array>().unwrap().value(r);
            block * 10 + u64::from(index)
        };
        let expected: Vec<usize> = (0..full.num_rows()).filter(|&r| (700..1000).contains(&position(&full, r))).collect();
        assert_eq!(part.num_rows(), expected.len());
        assert!(part.num_rows() > 0);
        for (i, &r) in expected.iter().enumerate() {
            assert_eq!(full.slice(r, 1), part.slice(i, 1));
        }
    }

    #[test]
    fn a_block_range_keeps_only_its_blocks() {
        // Blocks 0..200 (ten logs each); the window is [50, 120).
        let logs = synthetic_logs(0, 2_000, 5);
        let all = filter_transfers(&logs, 0).unwrap();
        let window = filter_transfers_in(&logs, 0, Some((50, 120))).unwrap();
        let blocks = |b: &RecordBatch| b.column(0).as_any().downcast_ref::<UInt64Array>().unwrap().values().to_vec();
        let expected: Vec<u64> = blocks(&all).into_iter().filter(|b| (50..120).contains(b)).collect();
        assert!(!expected.is_empty() && expected.len() < all.num_rows());
        assert_eq!(blocks(&window), expected);
        assert_eq!(filter_transfers_in(&logs, 0, Some((0, 200))).unwrap(), all, "a range covering the batch changes nothing");
    }

    #[test]
    fn rejects_input_without_the_expected_columns() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::UInt64, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(UInt64Array::from(vec![1u64]))]).unwrap();
        let err = filter_transfers(&batch, 0).unwrap_err();
        assert!(err.to_string().contains("no column `block_number`"), "{err}");
    }

    #[test]
    fn drops_rows_with_null_topics_malformed_data_or_unstorable_values() {
        use arrow_array::builder::{BinaryBuilder, FixedSizeBinaryBuilder};
        let word = |high: u128, low: u128| {
            let mut w = [0u8; 32];
            w[..16].copy_from_slice(&high.to_be_bytes());
            w[16..].copy_from_slice(&low.to_be_bytes());
            w.to_vec()
        };
        // (topic0, topic1 present, data): what each row of the input holds.
        let rows: Vec<([u8; 32], bool, Vec<u8>)> = vec![
            (TRANSFER_TOPIC, true, word(0, 5)),           // kept
            (TRANSFER_TOPIC, false, word(0, 5)),          // null `from`
            (TRANSFER_TOPIC, true, word(0, 5)[1..].to_vec()), // 31-byte data
            (APPROVAL_TOPIC, true, word(0, 5)),           // not a transfer
            (TRANSFER_TOPIC, true, word(4, 0)),           // 2^130: kept, wide
            (TRANSFER_TOPIC, true, word(1 << 127, 0)),    // >= 2^255
        ];
        let (mut t0, mut t1, mut t2) = (FixedSizeBinaryBuilder::new(32), FixedSizeBinaryBuilder::new(32), FixedSizeBinaryBuilder::new(32));
        let (mut address, mut data) = (FixedSizeBinaryBuilder::new(20), BinaryBuilder::new());
        for (topic, has_from, bytes) in &rows {
            t0.append_value(topic).unwrap();
            if *has_from { t1.append_value([1u8; 32]).unwrap() } else { t1.append_null() }
            t2.append_value([2u8; 32]).unwrap();
            address.append_value([3u8; 20]).unwrap();
            data.append_value(bytes);
        }
        let n = rows.len();
        let logs = RecordBatch::try_new(
            logs_schema(),
            vec![
                Arc::new(UInt64Array::from_iter_values(0..n as u64)),
                Arc::new(UInt32Array::from_iter_values(0..n as u32)),
                Arc::new(address.finish()),
                Arc::new(t0.finish()),
                Arc::new(t1.finish()),
                Arc::new(t2.finish()),
                Arc::new(data.finish()),
            ],
        )
        .unwrap();
        let out = filter_transfers(&logs, 1).unwrap();
        let blocks = out.column(0).as_any().downcast_ref::<UInt64Array>().unwrap();
        assert_eq!(blocks.values().to_vec(), vec![0, 4]);
        let values = out.column(5).as_any().downcast_ref::<Decimal256Array>().unwrap();
        assert_eq!(values.value(0), i256::from_i128(5));
        assert_eq!(values.value(1), i256::from_parts(0, 4));
        let from = out.column(3).as_any().downcast_ref::<FixedSizeBinaryArray>().unwrap();
        assert_eq!(from.value(0), [1u8; 20]);
    }
}
