//! `trace op new NAME --lang rust|js|python`: scaffold an operator project.

use std::path::Path;
use std::process::ExitCode;

use trace_opkit::Language;

pub fn run(name: &str, lang: &str, parent: &Path) -> anyhow::Result<ExitCode> {
    let language = Language::parse(lang).ok_or_else(|| anyhow::anyhow!("unknown language `{lang}`"))?;
    let (dir, test) = trace_opkit::scaffold(parent, name, language)?;
    println!("created {} ({} operator)", dir.display(), language.name());
    println!("  test   cd {} && {test}", dir.display());
    println!("  build  trace op build {}", dir.display());
    println!("  run    trace op run {}/build/{name}.wasm --input data.parquet --config '{{\"min\": 10}}'", dir.display());
    Ok(ExitCode::SUCCESS)
}
