//! anvil (a real Ethereum node, from the npm package
//! `@foundry-rs/anvil-linux-amd64`, fetched by `tests/fetch-anvil.sh`) on a
//! free port of 127.0.0.1, with the JSON-RPC calls tests make of it:
//! deploy the test ERC-20 from its committed bytecode, transfer, mine.
//! Stopped when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The test ERC-20's creation bytecode (`tests/contracts/TestToken.sol`).
pub const TEST_TOKEN_BIN: &str = include_str!("../../../tests/contracts/TestToken.bin");

/// keccak256("Transfer(address,address,uint256)"), as the node prints it.
pub const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

pub struct Anvil {
    child: Child,
    pub port: u16,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the anvil binary is: `$TRACE_ANVIL`, else the tools directory.
pub fn anvil_binary() -> PathBuf {
    if let Ok(path) = std::env::var("TRACE_ANVIL") {
        return PathBuf::from(path);
    }
    let tools = std::env::var("TRACE_TOOLS_DIR").map(PathBuf::from).unwrap_or_else(|_| {
        let cache = std::env::var("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache"));
        cache.join("trace/tools")
    });
    tools.join("anvil/anvil")
}

/// Start anvil (chain id 31337, automine: each transaction mines a block)
/// and wait until it answers.
pub fn anvil() -> Anvil {
    let port = crate::free_port();
    let child = Command::new(anvil_binary())
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--chain-id", "31337"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("anvil not found: run tests/fetch-anvil.sh (tests/setup.sh does)");
    let node = Anvil { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.try_rpc("eth_chainId", json!([])).is_err() {
        assert!(Instant::now() < deadline, "anvil did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    node
}

impl Anvil {
    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn try_rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        write!(stream, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).map_err(|e| e.to_string())?;
        let (_, json) = answer.split_once("\r\n\r\n").ok_or("no HTTP body")?;
        let reply: Value = serde_json::from_str(json).map_err(|e| format!("{e}: {json}"))?;
        match reply.get("error") {
            Some(error) => Err(format!("{method}: {error}")),
            None => Ok(reply["result"].clone()),
        }
    }

    /// Call `method`; panics with the node's error.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params).unwrap_or_else(|e| panic!("anvil: {e}"))
    }

    pub fn accounts(&self) -> Vec<String> {
        self.rpc("eth_accounts", json!([])).as_array().expect("a list").iter().map(|a| a.as_str().expect("text").to_owned()).collect()
    }

    pub fn block_number(&self) -> u64 {
        quantity(&self.rpc("eth_blockNumber", json!([])))
    }

    /// Mine `blocks` empty blocks.
    pub fn mine(&self, blocks: u64) {
        self.rpc("anvil_mine", json!([format!("0x{blocks:x}")]));
    }

    /// Send `tx` and wait for its receipt (automine mines it at once, but
    /// the receipt may lag the answer by a moment).
    fn send(&self, tx: Value) -> Value {
        let hash = self.rpc("eth_sendTransaction", json!([tx]));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let receipt = self.rpc("eth_getTransactionReceipt", json!([hash]));
            if !receipt.is_null() {
                return receipt;
            }
            assert!(Instant::now() < deadline, "no receipt for {hash}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Deploy the test ERC-20 from `from` with `supply`; its address.
    pub fn deploy_token(&self, from: &str, supply: u128) -> String {
        let data = format!("0x{}{}", TEST_TOKEN_BIN.trim(), word(supply));
        let receipt = self.send(json!({ "from": from, "data": data, "gas": "0x200000" }));
        assert_eq!(receipt["status"], "0x1", "deploying the token failed: {receipt}");
        receipt["contractAddress"].as_str().expect("an address").to_owned()
    }

    /// `token.transfer(to, amount)` from `from`; the block it landed in.
    pub fn transfer(&self, token: &str, from: &str, to: &str, amount: u128) -> u64 {
        let data = format!("0xa9059cbb{:0>64}{}", to.trim_start_matches("0x"), word(amount));
        let receipt = self.send(json!({ "from": from, "to": token, "data": data, "gas": "0x100000" }));
        assert_eq!(receipt["status"], "0x1", "the transfer failed: {receipt}");
        quantity(&receipt["blockNumber"])
    }

    /// `token.spray(to, count, amount)` from `from`: `count` transfers (and
    /// logs) in one transaction; the block it landed in.
    pub fn spray(&self, token: &str, from: &str, to: &str, count: u64, amount: u128) -> u64 {
        let data = format!("0x6f420100{:0>64}{}{}", to.trim_start_matches("0x"), word(u128::from(count)), word(amount));
        let receipt = self.send(json!({ "from": from, "to": token, "data": data, "gas": "0x1000000" }));
        assert_eq!(receipt["status"], "0x1", "the spray failed: {receipt}");
        quantity(&receipt["blockNumber"])
    }

    /// Send `wei` of ether from `from` to `to` (a transaction without logs).
    pub fn pay(&self, from: &str, to: &str, wei: u128) -> u64 {
        let receipt = self.send(json!({ "from": from, "to": to, "value": format!("0x{wei:x}") }));
        quantity(&receipt["blockNumber"])
    }
}

fn word(n: u128) -> String {
    format!("{n:064x}")
}

/// A JSON `0x…` quantity.
pub fn quantity(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().expect("a quantity").trim_start_matches("0x"), 16).expect("hex")
}
