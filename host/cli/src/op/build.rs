//! `trace op build [DIR]`: build an operator project and say whether Trace
//! would run what came out.

use std::path::Path;
use std::process::ExitCode;

use trace_core::units::human_bytes;

pub fn run(dir: &Path, out_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let manifest = trace_opkit::Manifest::load(dir)?;
    eprintln!("building {} ({}) …", manifest.name, manifest.language.name());
    let built = trace_opkit::build(dir, out_dir)?;
    let how = if built.reused { "unchanged, reused".to_owned() } else { format!("{:.1} s", built.took.as_secs_f64()) };
    println!("built {} with {} ({how})", built.path.display(), built.tool);
    println!("  size     {} ({} bytes)", human_bytes(built.bytes), built.bytes);
    println!("  digest   {}", built.digest);
    let runtime = trace_sandbox::Runtime::new(trace_sandbox::RuntimeConfig::default())
        .map_err(|e| anyhow::anyhow!("starting the sandbox: {e}"))?;
    let bytes = std::fs::read(&built.path)?;
    let inspection = runtime.inspect(&bytes)?;
    let verdict = if manifest.world == "source" { &inspection.source } else { &inspection.transform };
    match verdict {
        Ok(()) => {
            println!("  accepted as a {} operator", manifest.world);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("  REFUSED as a {} operator: {e}", manifest.world);
            Ok(ExitCode::from(1))
        }
    }
}
