//! The three tables, with cryo's column names and types (`cryo` writes the
//! same for `blocks`, `transactions` and `logs` with its default columns):
//! hashes, addresses and data as binary, block numbers and indexes as
//! unsigned integers, 256-bit values as big-endian bytes, decimal text and
//! a float. See docs/ingest.md for the full list beside cryo's.

use std::collections::HashMap;
use std::sync::Arc;

use trace_guest::arrow_array::builder::{BinaryBuilder, Float64Builder, StringBuilder, UInt32Builder, UInt64Builder};
use trace_guest::arrow_array::{ArrayRef, RecordBatch};
use trace_guest::arrow_schema::{DataType, Field, Schema};
use trace_guest::prelude::*;

use crate::node::{data_into, quantity, word, Block, Log, Receipt, TxEntry};

fn schema(fields: &[(&str, DataType, bool)]) -> Arc<Schema> {
    Arc::new(Schema::new(fields.iter().map(|(n, t, null)| Field::new(*n, t.clone(), *null)).collect::<Vec<_>>()))
}

fn batch(fields: &[(&str, DataType, bool)], columns: Vec<ArrayRef>) -> Result<RecordBatch, OperatorError> {
    RecordBatch::try_new(schema(fields), columns).map_err(|e| fatal(format!("building a batch: {e}")))
}

fn u32_of(field: &str, text: &str) -> Result<u32, OperatorError> {
    let n = quantity(field, text)?;
    u32::try_from(n).map_err(|_| fatal(format!("{field}: {n} does not fit cryo's 32-bit column")))
}

pub const BLOCKS: &[(&str, DataType, bool)] = &[
    ("block_number", DataType::UInt32, false),
    ("block_hash", DataType::Binary, false),
    ("parent_hash", DataType::Binary, false),
    ("timestamp", DataType::UInt32, false),
    ("author", DataType::Binary, false),
    ("gas_used", DataType::UInt64, false),
    ("extra_data", DataType::Binary, false),
    ("base_fee_per_gas", DataType::UInt64, true),
    ("chain_id", DataType::UInt64, false),
];

pub fn blocks(blocks: &[Block], chain_id: u64) -> Result<RecordBatch, OperatorError> {
    let (mut number, mut hash, mut parent, mut timestamp) = (UInt32Builder::new(), BinaryBuilder::new(), BinaryBuilder::new(), UInt32Builder::new());
    let (mut author, mut gas_used, mut extra, mut base_fee, mut chain) = (BinaryBuilder::new(), UInt64Builder::new(), BinaryBuilder::new(), UInt64Builder::new(), UInt64Builder::new());
    let mut buf = Vec::new();
    for b in blocks {
        number.append_value(u32_of("block.number", b.number)?);
        hash.append_value(data_into("block.hash", b.hash, &mut buf)?);
        parent.append_value(data_into("block.parentHash", b.parent_hash, &mut buf)?);
        timestamp.append_value(u32_of("block.timestamp", b.timestamp)?);
        author.append_value(data_into("block.miner", b.miner, &mut buf)?);
        gas_used.append_value(quantity("block.gasUsed", b.gas_used)?);
        extra.append_value(data_into("block.extraData", b.extra_data, &mut buf)?);
        base_fee.append_option(b.base_fee_per_gas.map(|f| quantity("block.baseFeePerGas", f)).transpose()?);
        chain.append_value(chain_id);
    }
    batch(BLOCKS, vec![
        Arc::new(number.finish()), Arc::new(hash.finish()), Arc::new(parent.finish()), Arc::new(timestamp.finish()),
        Arc::new(author.finish()), Arc::new(gas_used.finish()), Arc::new(extra.finish()), Arc::new(base_fee.finish()), Arc::new(chain.finish()),
    ])
}

pub const TRANSACTIONS: &[(&str, DataType, bool)] = &[
    ("block_number", DataType::UInt64, false),
    ("transaction_index", DataType::UInt64, false),
    ("transaction_hash", DataType::Binary, false),
    ("nonce", DataType::UInt64, false),
    ("from_address", DataType::Binary, false),
    ("to_address", DataType::Binary, true),
    ("value_binary", DataType::Binary, false),
    ("value_string", DataType::Utf8, false),
    ("value_f64", DataType::Float64, false),
    ("input", DataType::Binary, false),
    ("gas_limit", DataType::UInt64, false),
    ("gas_used", DataType::UInt64, true),
    ("gas_price", DataType::UInt64, true),
    ("transaction_type", DataType::UInt32, true),
    ("max_priority_fee_per_gas", DataType::UInt64, true),
    ("max_fee_per_gas", DataType::UInt64, true),
    ("chain_id", DataType::UInt64, false),
];

/// A big-endian 256-bit value as decimal text and as a float.
fn decimal(bytes: &[u8; 32]) -> (String, f64) {
    // Schoolbook division by 10 over the 32 bytes.
    let mut n = *bytes;
    let mut digits = Vec::new();
    while n.iter().any(|b| *b != 0) {
        let mut rem = 0u32;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    let text = if digits.is_empty() { "0".to_owned() } else { digits.iter().rev().map(|d| *d as char).collect() };
    let float = bytes.iter().fold(0f64, |acc, b| acc * 256.0 + f64::from(*b));
    (text, float)
}

pub fn transactions(blocks: &[Block], receipts: Option<&[Vec<Receipt>]>, chain_id: u64) -> Result<RecordBatch, OperatorError> {
    let mut b_number = UInt64Builder::new();
    let mut index = UInt64Builder::new();
    let mut hash = BinaryBuilder::new();
    let mut nonce = UInt64Builder::new();
    let mut from = BinaryBuilder::new();
    let mut to = BinaryBuilder::new();
    let mut value_binary = BinaryBuilder::new();
    let mut value_string = StringBuilder::new();
    let mut value_f64 = Float64Builder::new();
    let mut input = BinaryBuilder::new();
    let mut gas_limit = UInt64Builder::new();
    let mut gas_used = UInt64Builder::new();
    let mut gas_price = UInt64Builder::new();
    let mut kind = UInt32Builder::new();
    let mut priority = UInt64Builder::new();
    let mut max_fee = UInt64Builder::new();
    let mut chain = UInt64Builder::new();
    let opt = |field: &str, v: Option<&str>| v.map(|t| quantity(field, t)).transpose();
    let mut buf = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let used: HashMap<&str, &str> = receipts
            .and_then(|r| r.get(i))
            .map(|r| r.iter().map(|x| (x.transaction_hash, x.gas_used)).collect())
            .unwrap_or_default();
        for entry in &block.transactions {
            let TxEntry::Full(tx) = entry else { return Err(fatal("the node returned transaction hashes where full transactions were asked for")) };
            b_number.append_value(quantity("tx.blockNumber", tx.block_number)?);
            index.append_value(quantity("tx.transactionIndex", tx.transaction_index)?);
            hash.append_value(data_into("tx.hash", tx.hash, &mut buf)?);
            nonce.append_value(quantity("tx.nonce", tx.nonce)?);
            from.append_value(data_into("tx.from", tx.from, &mut buf)?);
            match tx.to {
                Some(t) => to.append_value(data_into("tx.to", t, &mut buf)?),
                None => to.append_null(),
            }
            let value = word("tx.value", tx.value)?;
            let (text, float) = decimal(&value);
            value_binary.append_value(value);
            value_string.append_value(text);
            value_f64.append_value(float);
            input.append_value(data_into("tx.input", tx.input, &mut buf)?);
            gas_limit.append_value(quantity("tx.gas", tx.gas)?);
            gas_used.append_option(used.get(tx.hash).map(|g| quantity("receipt.gasUsed", g)).transpose()?);
            gas_price.append_option(opt("tx.gasPrice", tx.gas_price)?);
            kind.append_option(opt("tx.type", tx.kind)?.map(|k| k as u32));
            priority.append_option(opt("tx.maxPriorityFeePerGas", tx.max_priority_fee_per_gas)?);
            max_fee.append_option(opt("tx.maxFeePerGas", tx.max_fee_per_gas)?);
            chain.append_value(chain_id);
        }
    }
    batch(TRANSACTIONS, vec![
        Arc::new(b_number.finish()), Arc::new(index.finish()), Arc::new(hash.finish()), Arc::new(nonce.finish()),
        Arc::new(from.finish()), Arc::new(to.finish()), Arc::new(value_binary.finish()), Arc::new(value_string.finish()),
        Arc::new(value_f64.finish()), Arc::new(input.finish()), Arc::new(gas_limit.finish()), Arc::new(gas_used.finish()),
        Arc::new(gas_price.finish()), Arc::new(kind.finish()), Arc::new(priority.finish()), Arc::new(max_fee.finish()), Arc::new(chain.finish()),
    ])
}

pub const LOGS: &[(&str, DataType, bool)] = &[
    ("block_number", DataType::UInt32, false),
    ("transaction_index", DataType::UInt32, false),
    ("log_index", DataType::UInt32, false),
    ("transaction_hash", DataType::Binary, false),
    ("address", DataType::Binary, false),
    ("topic0", DataType::Binary, true),
    ("topic1", DataType::Binary, true),
    ("topic2", DataType::Binary, true),
    ("topic3", DataType::Binary, true),
    ("data", DataType::Binary, false),
    ("chain_id", DataType::UInt64, false),
];

pub fn logs(logs: &[Log], chain_id: u64) -> Result<RecordBatch, OperatorError> {
    let (mut number, mut tx_index, mut log_index, mut tx_hash) = (UInt32Builder::new(), UInt32Builder::new(), UInt32Builder::new(), BinaryBuilder::new());
    let mut address = BinaryBuilder::new();
    let mut topics: [BinaryBuilder; 4] = std::array::from_fn(|_| BinaryBuilder::new());
    let (mut payload, mut chain) = (BinaryBuilder::new(), UInt64Builder::new());
    let mut buf = Vec::new();
    for log in logs {
        if log.topics.len() > 4 {
            return Err(fatal(format!("a log has {} topics; the EVM allows at most 4", log.topics.len())));
        }
        number.append_value(u32_of("log.blockNumber", log.block_number)?);
        tx_index.append_value(u32_of("log.transactionIndex", log.transaction_index)?);
        log_index.append_value(u32_of("log.logIndex", log.log_index)?);
        tx_hash.append_value(data_into("log.transactionHash", log.transaction_hash, &mut buf)?);
        address.append_value(data_into("log.address", log.address, &mut buf)?);
        for (i, builder) in topics.iter_mut().enumerate() {
            match log.topics.get(i) {
                Some(t) => builder.append_value(data_into("log.topics", t, &mut buf)?),
                None => builder.append_null(),
            }
        }
        payload.append_value(data_into("log.data", log.data, &mut buf)?);
        chain.append_value(chain_id);
    }
    let [t0, t1, t2, t3] = topics;
    let mut t = [t0, t1, t2, t3].map(|mut b| Arc::new(b.finish()) as ArrayRef).into_iter();
    batch(LOGS, vec![
        Arc::new(number.finish()), Arc::new(tx_index.finish()), Arc::new(log_index.finish()), Arc::new(tx_hash.finish()), Arc::new(address.finish()),
        t.next().expect("4"), t.next().expect("4"), t.next().expect("4"), t.next().expect("4"),
        Arc::new(payload.finish()), Arc::new(chain.finish()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_in_decimal() {
        let mut v = [0u8; 32];
        assert_eq!(decimal(&v), ("0".to_owned(), 0.0));
        v[31] = 255;
        v[30] = 1;
        assert_eq!(decimal(&v).0, "511");
        let max = [255u8; 32];
        assert_eq!(decimal(&max).0, "115792089237316195423570985008687907853269984665640564039457584007913129639935");
    }
}
