//! The example UDF's logic as plain Rust: decode ERC-20 `Transfer` logs and
//! keep those moving at least a threshold amount. The component in
//! `operators/erc20_transfers` and the native baseline in the benchmarks both
//! call [`filter_transfers`], so their outputs and speeds compare directly.

mod synthetic;

use std::sync::Arc;

use arrow_array::builder::{Decimal256Builder, FixedSizeBinaryBuilder, UInt32Builder, UInt64Builder};
use arrow_array::{Array, ArrowNativeTypeOp, BinaryArray, FixedSizeBinaryArray, RecordBatch, UInt32Array, UInt64Array};
use arrow_buffer::i256;
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
pub fn filter_transfers(logs: &RecordBatch, min_value: u128) -> Result<RecordBatch, ArrowError> {
    let block = column::<UInt64Array>(logs, "block_number")?;
    let log_index = column::<UInt32Array>(logs, "log_index")?;
    let address = column::<FixedSizeBinaryArray>(logs, "address")?;
    let topic0 = column::<FixedSizeBinaryArray>(logs, "topic0")?;
    let topic1 = column::<FixedSizeBinaryArray>(logs, "topic1")?;
    let topic2 = column::<FixedSizeBinaryArray>(logs, "topic2")?;
    let data = column::<BinaryArray>(logs, "data")?;
    let threshold = i256::from_i128(i128::try_from(min_value).unwrap_or(i128::MAX));
    let max_value = i256::from_i128(10).pow_wrapping(u32::from(VALUE_PRECISION));

    let mut out = Builders::default();
    for row in 0..logs.num_rows() {
        if topic0.is_null(row) || topic0.value(row) != TRANSFER_TOPIC || topic1.is_null(row) || topic2.is_null(row) {
            continue;
        }
        let Ok(raw) = <[u8; 32]>::try_from(data.value(row)) else { continue };
        // A uint256 at or above 2^255 reads as negative; it cannot be stored.
        let value = i256::from_be_bytes(raw);
        if value < threshold || value.is_negative() || value >= max_value {
            continue;
        }
        out.block.append_value(block.value(row));
        out.log_index.append_value(log_index.value(row));
        out.token.append_value(address.value(row))?;
        out.from.append_value(&topic1.value(row)[12..])?;
        out.to.append_value(&topic2.value(row)[12..])?;
        out.value.append_value(value);
    }
    out.finish()
}

struct Builders {
    block: UInt64Builder,
    log_index: UInt32Builder,
    token: FixedSizeBinaryBuilder,
    from: FixedSizeBinaryBuilder,
    to: FixedSizeBinaryBuilder,
    value: Decimal256Builder,
}

impl Default for Builders {
    fn default() -> Self {
        Self {
            block: UInt64Builder::new(),
            log_index: UInt32Builder::new(),
            token: FixedSizeBinaryBuilder::new(20),
            from: FixedSizeBinaryBuilder::new(20),
            to: FixedSizeBinaryBuilder::new(20),
            value: Decimal256Builder::new(),
        }
    }
}

impl Builders {
    fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        let value = self.value.finish().with_precision_and_scale(VALUE_PRECISION, 0)?;
        RecordBatch::try_new(
            transfers_schema(),
            vec![
                Arc::new(self.block.finish()),
                Arc::new(self.log_index.finish()),
                Arc::new(self.token.finish()),
                Arc::new(self.from.finish()),
                Arc::new(self.to.finish()),
                Arc::new(value),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rejects_input_without_the_expected_columns() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::UInt64, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(UInt64Array::from(vec![1u64]))]).unwrap();
        let err = filter_transfers(&batch, 0).unwrap_err();
        assert!(err.to_string().contains("no column `block_number`"), "{err}");
    }
}
