//! What the node returns, as JSON-RPC puts it (hex quantities and data),
//! and the calls that fetch it through the host-held `rpc` capability.

use serde::Deserialize;
use trace_guest::prelude::*;

// Fields borrow from the reply text (hex never needs unescaping): no
// allocation per field, which in wasm is most of a reply's parsing cost.

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Block<'a> {
    pub number: &'a str,
    pub hash: &'a str,
    pub parent_hash: &'a str,
    pub timestamp: &'a str,
    pub miner: &'a str,
    pub gas_used: &'a str,
    pub extra_data: &'a str,
    #[serde(default)]
    pub base_fee_per_gas: Option<&'a str>,
    #[serde(default, borrow)]
    pub transactions: Vec<TxEntry<'a>>,
}

/// A block's transactions: objects when asked for in full, else hashes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum TxEntry<'a> {
    #[serde(borrow)]
    Full(Box<Transaction<'a>>),
    Hash(#[allow(dead_code, reason = "a hash only says the block has a transaction")] &'a str),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction<'a> {
    pub hash: &'a str,
    pub nonce: &'a str,
    pub block_number: &'a str,
    pub transaction_index: &'a str,
    pub from: &'a str,
    #[serde(default)]
    pub to: Option<&'a str>,
    pub value: &'a str,
    pub input: &'a str,
    pub gas: &'a str,
    #[serde(default)]
    pub gas_price: Option<&'a str>,
    #[serde(default, rename = "type")]
    pub kind: Option<&'a str>,
    #[serde(default)]
    pub max_priority_fee_per_gas: Option<&'a str>,
    #[serde(default)]
    pub max_fee_per_gas: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Log<'a> {
    pub address: &'a str,
    #[serde(borrow)]
    pub topics: Vec<&'a str>,
    pub data: &'a str,
    pub block_number: &'a str,
    pub block_hash: &'a str,
    pub transaction_hash: &'a str,
    pub transaction_index: &'a str,
    pub log_index: &'a str,
    #[serde(default)]
    pub removed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt<'a> {
    pub transaction_hash: &'a str,
    pub gas_used: &'a str,
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

const fn nibbles() -> [u8; 256] {
    let mut t = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
}

static NIBBLE: [u8; 256] = nibbles();

/// `0x…` data into `out` (cleared first): one table lookup per digit.
pub fn data_into<'o>(field: &str, text: &str, out: &'o mut Vec<u8>) -> Result<&'o [u8], OperatorError> {
    let digits = text.strip_prefix("0x").ok_or_else(|| fatal(format!("{field}: {text:?} is not 0x data")))?.as_bytes();
    if digits.len() % 2 != 0 {
        return Err(fatal(format!("{field}: odd number of hex digits")));
    }
    out.clear();
    out.reserve(digits.len() / 2);
    let mut bad = 0u8;
    for pair in digits.chunks_exact(2) {
        let (hi, lo) = (NIBBLE[pair[0] as usize], NIBBLE[pair[1] as usize]);
        bad |= hi | lo;
        out.push((hi << 4) | (lo & 0x0f));
    }
    if bad & 0xf0 != 0 {
        return Err(fatal(format!("{field}: not hex")));
    }
    Ok(out)
}

/// `0x…` data → bytes.
#[cfg(test)]
pub fn data(field: &str, text: &str) -> Result<Vec<u8>, OperatorError> {
    let mut out = Vec::new();
    data_into(field, text, &mut out)?;
    Ok(out)
}

fn hex(n: u64) -> String {
    format!("0x{n:x}")
}

/// A failed call: a refused key or a bad request will not mend; anything
/// else (a node behind, a timeout) may.
fn failed(message: String) -> OperatorError {
    let lasting = ["refused the credentials of", "is not in this job's rpc.methods", "params are not JSON", "larger than rpc.max_response_bytes"];
    if lasting.iter().any(|m| message.contains(m)) { fatal(message) } else { retryable(message) }
}

fn parse<'a, T: Deserialize<'a>>(method: &str, reply: &'a str) -> Result<T, OperatorError> {
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

/// Run `calls` as one batch; each reply's text, in order.
fn batch(method: &str, params: impl Iterator<Item = String>) -> Result<Vec<String>, OperatorError> {
    let calls: Vec<(String, String)> = params.map(|p| (method.to_owned(), p)).collect();
    let replies = trace_guest::bindings::trace::operator::rpc::call_batch(&calls).map_err(failed)?;
    replies.into_iter().map(|r| r.map_err(failed)).collect()
}

/// Replies to `eth_getBlockByNumber` for `[start, end)` (full
/// transactions if `full`); parse each with [`block`].
pub fn blocks(start: u64, end: u64, full: bool) -> Result<Vec<String>, OperatorError> {
    batch("eth_getBlockByNumber", (start..end).map(|n| format!(r#"["{}",{full}]"#, hex(n))))
}

/// Block `n` from its reply.
pub fn block(n: u64, reply: &str) -> Result<Block<'_>, OperatorError> {
    let found: Option<Block> = parse("eth_getBlockByNumber", reply)?;
    found.ok_or_else(|| retryable(format!("the node does not have block {n} yet")))
}

/// The reply to `eth_getLogs` for blocks `[start, end)`, of `contracts` if
/// any are named; parse it with [`logs_of`].
pub fn logs(start: u64, end: u64, contracts: &[String]) -> Result<String, OperatorError> {
    let mut filter = serde_json::json!({ "fromBlock": hex(start), "toBlock": hex(end - 1) });
    if !contracts.is_empty() {
        filter["address"] = serde_json::json!(contracts);
    }
    trace_guest::bindings::trace::operator::rpc::call("eth_getLogs", &format!("[{filter}]")).map_err(failed)
}

/// The logs in an `eth_getLogs` reply, without removed ones.
pub fn logs_of(reply: &str) -> Result<Vec<Log<'_>>, OperatorError> {
    let logs: Vec<Log> = parse("eth_getLogs", reply)?;
    Ok(logs.into_iter().filter(|l| !l.removed).collect())
}

/// Replies to `eth_getBlockReceipts` for `[start, end)`; parse each with [`receipts_of`].
pub fn receipts(start: u64, end: u64) -> Result<Vec<String>, OperatorError> {
    batch("eth_getBlockReceipts", (start..end).map(|n| format!(r#"["{}"]"#, hex(n))))
}

pub fn receipts_of(n: u64, reply: &str) -> Result<Vec<Receipt<'_>>, OperatorError> {
    let found: Option<Vec<Receipt>> = parse("eth_getBlockReceipts", reply)?;
    found.ok_or_else(|| retryable(format!("the node has no receipts for block {n} yet")))
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
