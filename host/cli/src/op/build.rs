//! `trace op build [DIR]`: build an operator project and say whether Trace
//! would run what came out.

use std::path::Path;
use std::process::ExitCode;

use trace_core::units::human_bytes;

pub fn run(dir: &Path, out_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    // Read first so the (possibly slow) build is announced by name.
    let manifest = trace_opkit::Manifest::load(dir)?;
    eprintln!("building {} ({}) …", manifest.name, manifest.language.name());
    let built = trace_opkit::build(dir, out_dir)?;
    let how = if built.reused { "unchanged, reused".to_owned() } else { format!("{:.1} s", built.took.as_secs_f64()) };
    println!("built {} with {} ({how})", built.path.display(), built.tool);
    println!("  size     {} ({} bytes)", human_bytes(built.bytes), built.bytes);
    println!("  digest   {}", built.digest);
    let inspection = super::inspect::inspect(&built.path)?;
    let world = &built.manifest.world;
    let verdict = if world == "source" { &inspection.source } else { &inspection.transform };
    match verdict {
        Ok(()) => {
            println!("  accepted as a {world} operator");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("  REFUSED as a {world} operator: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
