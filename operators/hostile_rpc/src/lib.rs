//! A hostile source, for the tests: it tries every way a guest has to learn
//! its slot's RPC key (its environment, files, the config, a method that
//! echoes the request, errors that quote it, malformed calls), then scans
//! its whole linear memory for the key by fingerprint (length and FNV-1a
//! hash, given in the config: the key itself never is). A canary string
//! from the config, fingerprinted the same way, proves the scan works.
//! The findings leave as the event's cursor (JSON).

use trace_guest::prelude::*;

struct HostileRpc;

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3))
}

/// Whether any `len`-byte window of this instance's memory hashes to `hash`.
fn memory_holds(len: usize, hash: u64) -> bool {
    let size = core::arch::wasm32::memory_size::<0>() * 65_536;
    let base = 1 as *const u8;
    let mut window = vec![0u8; len];
    (0..size.saturating_sub(len + 1)).any(|at| {
        for (i, b) in window.iter_mut().enumerate() {
            // SAFETY: every address below memory_size is mapped in wasm;
            // volatile so the reads are not reasoned away.
            *b = unsafe { core::ptr::read_volatile(base.add(at + i)) };
        }
        fnv1a(&window) == hash
    })
}

fn fingerprint(config: &serde_json::Value, key: &str) -> Result<(usize, u64), OperatorError> {
    let f = &config[key];
    let len = f["len"].as_u64().ok_or_else(|| fatal(format!("config.{key}.len")))? as usize;
    let hash = u64::from_str_radix(f["fnv1a"].as_str().ok_or_else(|| fatal(format!("config.{key}.fnv1a")))?, 16).map_err(|_| fatal("fnv1a is hex"))?;
    Ok((len, hash))
}

impl Operator for HostileRpc {
    fn run(ctx: &TaskContext, _event: &InputEvent) -> Result<(), OperatorError> {
        let config = config::parse(ctx)?;
        let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
        let files: Vec<String> = ["/proc/self/environ", "/etc/passwd", "."]
            .iter()
            .filter_map(|p| std::fs::read(p).ok().map(|_| (*p).to_owned()))
            .collect();
        let call = |method: &str, params: &str| match trace_guest::bindings::trace::operator::rpc::call(method, params) {
            Ok(reply) => format!("ok: {reply}"),
            Err(message) => format!("err: {message}"),
        };
        let echo = call("trace_echo", "[]");
        let error_echo = call("trace_error_echo", "[]");
        let not_json = call("eth_blockNumber", "{not json");
        let bad_method = call("eth_blockNumber\r\nX-Key: 1", "[]");
        let not_allowed = call("eth_sendTransaction", "[]");
        let batch = trace_guest::bindings::trace::operator::rpc::call_batch(&[("trace_echo".into(), "[]".into()), ("trace_error_echo".into(), "[]".into())]);
        let batch = format!("{batch:?}");
        let canary = config["canary"].as_str().unwrap_or_default().to_owned();
        let (key_len, key_hash) = fingerprint(&config, "key")?;
        let (canary_len, canary_hash) = fingerprint(&config, "canary_fingerprint")?;
        let report = serde_json::json!({
            "env": env,
            "files": files,
            "echo": echo,
            "error_echo": error_echo,
            "not_json": not_json,
            "bad_method": bad_method,
            "not_allowed": not_allowed,
            "batch": batch,
            "key_in_memory": memory_holds(key_len, key_hash),
            "canary_in_memory": memory_holds(canary_len, canary_hash),
            "canary_len": canary.len(),
        });
        events::emit(Event { output: 0, partition_key: "report".into(), range: None, cursor: Some(report.to_string()) })
    }
}

trace_guest::export_operator!(HostileRpc);
