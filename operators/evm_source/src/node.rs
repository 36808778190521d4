//! What the node returns, as JSON-RPC puts it (hex quantities and data),
//! and the calls that fetch it through the host-held `rpc` capability.

use serde::Deserialize;
use trace_guest::prelude::*;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    pub number: String,
    pub hash: String,
    pub parent_hash: String,
    pub timestamp: String,
    pub miner: String,
    pub gas_used: String,
    pub extra_data: String,
    #[serde(default)]
    pub base_fee_per_gas: Option<String>,
    #[serde(default)]
    pub transactions: Vec<TxEntry>,
}

/// A block's transactions: objects when asked for in full, else hashes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum TxEntry {
    Full(Box<Transaction>),
    Hash(#[allow(dead_code, reason = "a hash only says the block has a transaction")] String),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub hash: String,
    pub nonce: String,
    pub block_number: String,
    pub transaction_index: String,
    pub from: String,
    #[serde(default)]
    pub to: Option<String>,
    pub value: String,
    pub input: String,
    pub gas: String,
    #[serde(default)]
    pub gas_price: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub max_priority_fee_per_gas: Option<String>,
    #[serde(default)]
    pub max_fee_per_gas: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Log {
    pub address: String,
    pub topics: Vec<String>,
    pub data: String,
    pub block_number: String,
    pub block_hash: String,
    pub transaction_hash: String,
    pub transaction_index: String,
    pub log_index: String,
    #[serde(default)]
    pub removed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub transaction_hash: String,
    pub gas_used: String,
}

/// `0x…` quantity → integer.
pub fn quantity(field: &str, text: &str) -> Result<u64, OperatorError> {
    let digits = text.strip_prefix("0x").ok_or_else(|| fatal(format!("{field}: {text:?} is not a 0x quantity")))?;
    u64::from_str_radix(if digits.is_empty() { "0" } else { digits }, 16).map_err(|_| fatal(format!("{field}: {text:?} is not a 64-bit quantity")))
}

/// `0x…` 256-bit quantity → 32 bytes big-endian.
pub fn word(field: &str, text: &str) -> Result<[u8; 32], OperatorError> {
    let digits = text.strip_prefix("0x").ok_or_else(|| fatal(format!("{field}: {text:?} is not a 0x quantity")))?;
    if digits.len() > 64 {
        return Err(fatal(format!("{field}: {text:?} is wider than 256 bits")));
    }
    let padded = format!("{digits:0>64}");
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).map_err(|_| fatal(format!("{field}: {text:?} is not hex")))?;
    }
    Ok(out)
}

/// `0x…` data → bytes.
pub fn data(field: &str, text: &str) -> Result<Vec<u8>, OperatorError> {
    let digits = text.strip_prefix("0x").ok_or_else(|| fatal(format!("{field}: {text:?} is not 0x data")))?;
    if digits.len() % 2 != 0 {
        return Err(fatal(format!("{field}: odd number of hex digits")));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| fatal(format!("{field}: not hex"))))
        .collect()
}

fn hex(n: u64) -> String {
    format!("0x{n:x}")
}

/// A failed call: a refused key or a bad request will not mend; anything
/// else (a node behind, a timeout) may.
fn failed(message: String) -> OperatorError {
    let lasting = ["refused this slot's credentials", "is not in this job's rpc.methods", "params are not JSON", "larger than rpc.max_response_bytes"];
    if lasting.iter().any(|m| message.contains(m)) { fatal(message) } else { retryable(message) }
}

fn parse<T: for<'de> Deserialize<'de>>(method: &str, reply: &str) -> Result<T, OperatorError> {
    serde_json::from_str(reply).map_err(|e| retryable(format!("rpc {method}: unexpected reply: {e}")))
}

/// The chain's head block number.
pub fn head() -> Result<u64, OperatorError> {
    let reply = trace_guest::bindings::trace::operator::rpc::call("eth_blockNumber", "[]").map_err(failed)?;
    quantity("eth_blockNumber", &parse::<String>("eth_blockNumber", &reply)?)
}

pub fn chain_id() -> Result<u64, OperatorError> {
    let reply = trace_guest::bindings::trace::operator::rpc::call("eth_chainId", "[]").map_err(failed)?;
    quantity("eth_chainId", &parse::<String>("eth_chainId", &reply)?)
}

/// Run `calls` as one batch; each reply parsed, in order.
fn batch<T: for<'de> Deserialize<'de>>(method: &str, params: impl Iterator<Item = String>) -> Result<Vec<T>, OperatorError> {
    let calls: Vec<(String, String)> = params.map(|p| (method.to_owned(), p)).collect();
    let replies = trace_guest::bindings::trace::operator::rpc::call_batch(&calls).map_err(failed)?;
    replies.into_iter().map(|r| r.map_err(failed).and_then(|text| parse(method, &text))).collect()
}

/// Blocks `[start, end)`, with full transactions if `full`.
pub fn blocks(start: u64, end: u64, full: bool) -> Result<Vec<Block>, OperatorError> {
    let found: Vec<Option<Block>> = batch("eth_getBlockByNumber", (start..end).map(|n| format!(r#"["{}",{full}]"#, hex(n))))?;
    found
        .into_iter()
        .zip(start..end)
        .map(|(b, n)| b.ok_or_else(|| retryable(format!("the node does not have block {n} yet"))))
        .collect()
}

/// Logs of blocks `[start, end)`, of `contracts` if any are named.
pub fn logs(start: u64, end: u64, contracts: &[String]) -> Result<Vec<Log>, OperatorError> {
    let mut filter = serde_json::json!({ "fromBlock": hex(start), "toBlock": hex(end - 1) });
    if !contracts.is_empty() {
        filter["address"] = serde_json::json!(contracts);
    }
    let reply = trace_guest::bindings::trace::operator::rpc::call("eth_getLogs", &format!("[{filter}]")).map_err(failed)?;
    let logs: Vec<Log> = parse("eth_getLogs", &reply)?;
    Ok(logs.into_iter().filter(|l| !l.removed).collect())
}

/// Each block's receipts, for `[start, end)`.
pub fn receipts(start: u64, end: u64) -> Result<Vec<Vec<Receipt>>, OperatorError> {
    let found: Vec<Option<Vec<Receipt>>> = batch("eth_getBlockReceipts", (start..end).map(|n| format!(r#"["{}"]"#, hex(n))))?;
    found.into_iter().zip(start..end).map(|(r, n)| r.ok_or_else(|| retryable(format!("the node has no receipts for block {n} yet")))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_values_parse_and_refuse_what_is_not_hex() {
        assert_eq!(quantity("n", "0x1a").unwrap(), 26);
        assert_eq!(quantity("n", "0x").unwrap(), 0);
        assert!(quantity("n", "26").is_err() && quantity("n", "0x1ffffffffffffffff").is_err());
        assert_eq!(data("d", "0x00ff").unwrap(), vec![0, 255]);
        assert!(data("d", "0x0").is_err() && data("d", "0xzz").is_err());
        let w = word("v", "0x100").unwrap();
        assert_eq!((w[30], w[31]), (1, 0));
        assert!(word("v", &format!("0x1{}", "0".repeat(64))).is_err());
    }
}
