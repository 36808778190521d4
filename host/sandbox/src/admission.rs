//! Admission: which imports an operator component may have. Checked once at
//! load, before anything is instantiated, so a component that wants the
//! network, HTTP or anything else outside its world is refused with an error
//! that names the import and says how to build without it.

use trace_core::Digest;
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::LoadError;

/// The WIT world an operator is linked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum World {
    /// Reads inputs, writes outputs, emits events, keeps state, logs.
    Transform,
    /// A transform that may also call its job's host-held RPC endpoint.
    Source,
}

impl World {
    pub fn name(self) -> &'static str {
        match self {
            World::Transform => "trace:operator/transform",
            World::Source => "trace:operator/source",
        }
    }
}

/// The minimal WASI a Rust/JS/Python guest needs to start. Every one of these
/// is linked deny-by-default: empty environment and arguments, no preopened
/// directories, stdin closed, stdout/stderr captured into the bounded log.
const WASI_BASE: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
];

const TRACE_TRANSFORM: &[&str] = &[
    "trace:operator/types",
    "trace:operator/input",
    "trace:operator/output",
    "trace:operator/columns",
    "trace:operator/events",
    "trace:operator/state",
    "trace:operator/log",
];

/// Splits `ns:pkg/iface@1.2.3` into (`ns:pkg/iface`, `1.2.3`).
fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (name, None),
    }
}

/// Why `import` is not allowed in `world`, or `None` if it is.
pub fn refusal(world: World, import: &str) -> Option<String> {
    let (name, version) = split_version(import);
    let version_ok = |prefix: &str| version.is_some_and(|v| v.starts_with(prefix));
    if name.starts_with("wasi:") {
        if WASI_BASE.contains(&name) {
            return (!version_ok("0.2.")).then(|| {
                "Trace links WASI 0.2.x; build against wasi 0.2 (the `wasm32-wasip2` target)".to_string()
            });
        }
        return Some(wasi_hint(name));
    }
    if name.starts_with("trace:operator/") {
        if !version_ok("0.1.") {
            return Some("this host speaks trace:operator@0.1.x; rebuild with the matching guest SDK".into());
        }
        if TRACE_TRANSFORM.contains(&name) || (name == "trace:operator/rpc" && world == World::Source) {
            return None;
        }
        if name == "trace:operator/rpc" {
            return Some("`rpc` is granted only to source operators; run this as a source job or drop the rpc calls".into());
        }
        return Some("unknown trace:operator interface; rebuild with the matching guest SDK".into());
    }
    Some(format!(
        "operators may import only the {} world and minimal WASI; remove the dependency that imports it",
        world.name()
    ))
}

fn wasi_hint(name: &str) -> String {
    if name.starts_with("wasi:sockets/") {
        "operators have no network access; remove the code that opens sockets (std::net, an HTTP or database client) and read data through inputs instead".into()
    } else if name.starts_with("wasi:http/") {
        "operators cannot make HTTP requests; sources fetch through the host-held `rpc` capability, and side effects go through the platform's delivery service".into()
    } else {
        format!("`{name}` is outside the minimal WASI Trace links (io, cli, clocks, random, filesystem with no directories)")
    }
}

/// Check every import of `component` against `world`.
pub fn check_imports(
    engine: &Engine,
    component: &Component,
    world: World,
    digest: Digest,
) -> Result<(), LoadError> {
    for (import, _) in component.component_type().imports(engine) {
        if let Some(hint) = refusal(world, import) {
            return Err(LoadError::ForbiddenImport { digest, import: import.to_owned(), hint });
        }
    }
    Ok(())
}

/// Core module instantiations in a component, nested components included.
/// Unparsable bytes count as zero; compilation reports them properly.
pub fn count_core_instances(bytes: &[u8]) -> usize {
    use wasmtime::wasmparser::{Instance, Parser, Payload};
    let mut count = 0;
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(Payload::InstanceSection(reader)) = payload else { continue };
        count += reader.into_iter().filter(|i| matches!(i, Ok(Instance::Instantiate { .. }))).count();
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_world_and_minimal_wasi() {
        assert_eq!(refusal(World::Transform, "wasi:io/streams@0.2.4"), None);
        assert_eq!(refusal(World::Transform, "trace:operator/input@0.1.0"), None);
        assert_eq!(refusal(World::Source, "trace:operator/rpc@0.1.0"), None);
    }

    #[test]
    fn refuses_network_http_and_rpc_outside_sources() {
        let sockets = refusal(World::Source, "wasi:sockets/tcp@0.2.0").unwrap();
        assert!(sockets.contains("no network access"), "{sockets}");
        let http = refusal(World::Source, "wasi:http/outgoing-handler@0.2.0").unwrap();
        assert!(http.contains("cannot make HTTP requests"), "{http}");
        let rpc = refusal(World::Transform, "trace:operator/rpc@0.1.0").unwrap();
        assert!(rpc.contains("only to source operators"), "{rpc}");
        assert!(refusal(World::Transform, "acme:evil/backdoor").is_some());
    }

    #[test]
    fn refuses_mismatched_versions() {
        assert!(refusal(World::Transform, "wasi:io/streams@0.3.0").is_some());
        assert!(refusal(World::Transform, "trace:operator/input@0.2.0").is_some());
    }
}
