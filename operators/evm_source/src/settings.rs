//! The job's `config:` for `evm_source`.

use trace_guest::prelude::*;

/// The tables the source can write, by their cryo names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Blocks,
    Transactions,
    Logs,
}

impl Table {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "blocks" => Some(Table::Blocks),
            "transactions" => Some(Table::Transactions),
            "logs" => Some(Table::Logs),
            _ => None,
        }
    }
}

/// Most blocks one task's range may cover.
pub const MAX_RANGE_BLOCKS: u64 = 100_000;
/// Most blocks fetched and written as one batch.
pub const MAX_WINDOW: u64 = 10_000;
pub const MAX_CONFIRMATIONS: u64 = 100_000;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Output `i` is `tables[i]`.
    pub tables: Vec<Table>,
    /// Blocks a range's last block must be below the head.
    pub confirmations: u64,
    /// Blocks fetched (and logs asked for) per batch.
    pub window: u64,
    /// Fill `transactions.gas_used` from `eth_getBlockReceipts`.
    pub receipts: bool,
    /// Only logs of these contracts (lowercase `0x…`), if any.
    pub contracts: Vec<String>,
}

impl Settings {
    pub fn parse(ctx: &TaskContext) -> Result<Self, OperatorError> {
        let config = config::parse(ctx)?;
        let config = if config.is_null() { serde_json::json!({}) } else { config };
        let known = ["tables", "confirmations", "window", "receipts", "contracts"];
        if let Some(unknown) = config.as_object().ok_or_else(|| fatal("config must be an object"))?.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(fatal(format!("config.{unknown} is not an evm_source setting (tables, confirmations, window, receipts, contracts)")));
        }
        let tables = match config.get("tables") {
            None => vec![Table::Blocks, Table::Transactions, Table::Logs],
            Some(list) => {
                let names = list.as_array().ok_or_else(|| fatal("config.tables must be a list of blocks, transactions, logs"))?;
                let mut tables = Vec::new();
                for name in names {
                    let table = name.as_str().and_then(Table::parse).ok_or_else(|| fatal(format!("config.tables: {name} is not blocks, transactions or logs")))?;
                    if tables.contains(&table) {
                        return Err(fatal(format!("config.tables names {name} twice")));
                    }
                    tables.push(table);
                }
                if tables.is_empty() {
                    return Err(fatal("config.tables is empty"));
                }
                tables
            }
        };
        let number = |key: &str, default: u64, max: u64, min: u64| -> Result<u64, OperatorError> {
            match config.get(key) {
                None => Ok(default),
                Some(v) => v.as_u64().filter(|n| (min..=max).contains(n)).ok_or_else(|| fatal(format!("config.{key} must be an integer from {min} to {max}, got {v}"))),
            }
        };
        let contracts = match config.get("contracts") {
            None => Vec::new(),
            Some(list) => list
                .as_array()
                .ok_or_else(|| fatal("config.contracts must be a list of addresses"))?
                .iter()
                .map(|a| match a.as_str() {
                    Some(s) if s.len() == 42 && s.starts_with("0x") && s[2..].bytes().all(|b| b.is_ascii_hexdigit()) => Ok(s.to_ascii_lowercase()),
                    _ => Err(fatal(format!("config.contracts: {a} is not a 0x-prefixed 20-byte address"))),
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Settings {
            tables,
            confirmations: number("confirmations", 0, MAX_CONFIRMATIONS, 0)?,
            window: number("window", 100, MAX_WINDOW, 1)?,
            receipts: config.get("receipts").map(|v| v.as_bool().ok_or_else(|| fatal("config.receipts must be true or false"))).transpose()?.unwrap_or(false),
            contracts,
        })
    }

    pub fn output_of(&self, table: Table) -> Option<u32> {
        self.tables.iter().position(|t| *t == table).map(|i| i as u32)
    }
}
