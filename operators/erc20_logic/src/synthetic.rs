//! A deterministic stream of synthetic EVM logs: the same (start, rows, seed)
//! always gives the same batch, so tests and benchmarks can regenerate it.

use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, FixedSizeBinaryBuilder, UInt32Builder, UInt64Builder};
use arrow_array::RecordBatch;

use crate::{logs_schema, TRANSFER_TOPIC};

/// keccak256("Approval(address,address,uint256)").
pub const APPROVAL_TOPIC: [u8; 32] = [
    0x8c, 0x5b, 0xe1, 0xe5, 0xeb, 0xec, 0x7d, 0x5b, 0xd1, 0x4f, 0x71, 0x42, 0x7d, 0x1e, 0x84, 0xf3,
    0xdd, 0x03, 0x14, 0xc0, 0xf7, 0xb2, 0x29, 0x1e, 0x5b, 0x20, 0x0a, 0xc8, 0xc7, 0xc3, 0xb9, 0x25,
];

/// Logs for blocks from `start_block`, ten per block, `rows` in all. About
/// four in five are transfers, with values spread over twelve decades.
pub fn synthetic_logs(start_block: u64, rows: usize, seed: u64) -> RecordBatch {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut block = UInt64Builder::with_capacity(rows);
    let mut log_index = UInt32Builder::with_capacity(rows);
    let mut address = FixedSizeBinaryBuilder::with_capacity(rows, 20);
    let mut topic0 = FixedSizeBinaryBuilder::with_capacity(rows, 32);
    let mut topic1 = FixedSizeBinaryBuilder::with_capacity(rows, 32);
    let mut topic2 = FixedSizeBinaryBuilder::with_capacity(rows, 32);
    let mut data = BinaryBuilder::with_capacity(rows, rows * 32);
    for i in 0..rows {
        let r = next();
        block.append_value(start_block + (i / 10) as u64);
        log_index.append_value((i % 10) as u32);
        let mut token = [0u8; 20];
        token[19] = (r % 16) as u8;
        address.append_value(token).expect("20 bytes");
        let is_transfer = r % 5 != 0;
        topic0.append_value(if is_transfer { TRANSFER_TOPIC } else { APPROVAL_TOPIC }).expect("32 bytes");
        let mut from = [0u8; 32];
        from[24..].copy_from_slice(&next().to_be_bytes());
        let mut to = [0u8; 32];
        to[24..].copy_from_slice(&next().to_be_bytes());
        topic1.append_value(from).expect("32 bytes");
        topic2.append_value(to).expect("32 bytes");
        // value = mantissa * 10^decade, decade in 0..12
        let value = u128::from(next() % 1000) * 10u128.pow((next() % 12) as u32);
        let mut word = [0u8; 32];
        word[16..].copy_from_slice(&value.to_be_bytes());
        data.append_value(word);
    }
    RecordBatch::try_new(
        logs_schema(),
        vec![
            Arc::new(block.finish()),
            Arc::new(log_index.finish()),
            Arc::new(address.finish()),
            Arc::new(topic0.finish()),
            Arc::new(topic1.finish()),
            Arc::new(topic2.finish()),
            Arc::new(data.finish()),
        ],
    )
    .expect("synthetic logs match the logs schema")
}
