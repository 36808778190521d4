//! `trace op inspect FILE`: what a component is and whether Trace runs it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use trace_core::units::human_bytes;
use trace_sandbox::{Inspection, Runtime, RuntimeConfig};

fn verdict(r: &Result<(), trace_sandbox::LoadError>) -> String {
    match r {
        Ok(()) => "accepted".to_owned(),
        Err(e) => format!("refused: {e}"),
    }
}

/// What Trace makes of the component at `file`.
pub fn inspect(file: &Path) -> anyhow::Result<Inspection> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let runtime = Runtime::new(RuntimeConfig::default()).map_err(|e| anyhow::anyhow!("starting the sandbox: {e}"))?;
    runtime.inspect(&bytes).with_context(|| format!("{} is not a WebAssembly component", file.display()))
}

pub fn run(file: &Path) -> anyhow::Result<ExitCode> {
    let i = inspect(file)?;
    println!("component {}", file.display());
    println!("  size     {} ({} bytes)", human_bytes(i.bytes as u64), i.bytes);
    println!("  digest   {}", i.digest);
    println!("  imports  ({})", i.imports.len());
    for (name, refused) in &i.imports {
        match refused {
            None => println!("    {name}"),
            Some(hint) => println!("    {name}  REFUSED: {hint}"),
        }
    }
    println!("  exports  ({})", i.exports.len());
    for name in &i.exports {
        println!("    {name}");
    }
    let s = &i.shape;
    println!("  core     {} module(s), {} function(s), {} function import(s)", s.core_modules, s.defined_functions, s.function_imports);
    println!("  table    {} entries written per instance, {} filled in lazily", s.eager_table_entries, s.lazy_table_entries);
    println!(
        "  data     {} mapped copy-on-write, {} copied per instance",
        human_bytes(s.mapped_data_bytes as u64),
        human_bytes(s.copied_data_bytes as u64)
    );
    if s.is_heavy() {
        println!(
            "  note     dynamically linked: every task resolves {} imports and table entries before the operator runs \
             (more than {}): a fresh instance costs hundreds of microseconds, not a few",
            s.function_imports + s.eager_table_entries,
            trace_sandbox::HEAVY_LINKING
        );
    }
    println!("  as a transform: {}", verdict(&i.transform));
    println!("  as a source:    {}", verdict(&i.source));
    Ok(if i.transform.is_ok() || i.source.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
