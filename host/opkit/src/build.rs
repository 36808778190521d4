//! `trace op build`: one operator project → one component. Rust goes through
//! cargo (`wasm32-wasip2`, release); JavaScript and Python are staged with
//! their kit and the WIT contract and handed to componentize-qjs or
//! componentize-py with every WASI import stubbed out, so the component asks
//! the host for nothing beyond Trace's world.
//!
//! A JavaScript or Python build whose inputs (sources, kit, contract, tool
//! version, world) are unchanged reuses the previous component.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::embedded::{JS_KIT, PYTHON_KIT, WIT};
use crate::error::{io, OpkitError};
use crate::manifest::{Language, Manifest};
use crate::tools::Tool;

/// A built component.
#[derive(Debug, Clone)]
pub struct Built {
    pub manifest: Manifest,
    pub path: PathBuf,
    pub bytes: u64,
    /// `sha256:…` of the component.
    pub digest: String,
    pub took: Duration,
    /// The tool that built it, with its version.
    pub tool: String,
    /// True when an unchanged earlier build was reused.
    pub reused: bool,
}

/// Build the project in `dir` into `out_dir` (default `dir/build`).
pub fn build(dir: &Path, out_dir: Option<&Path>) -> Result<Built, OpkitError> {
    let manifest = Manifest::load(dir)?;
    let out_dir = out_dir.map(Path::to_path_buf).unwrap_or_else(|| dir.join("build"));
    std::fs::create_dir_all(&out_dir).map_err(io(&out_dir))?;
    let out = out_dir.join(format!("{}.wasm", manifest.name));
    let started = Instant::now();
    let (tool, reused) = match manifest.language {
        Language::Rust => (build_rust(dir, &out)?, false),
        Language::Js => build_staged(dir, &out_dir, &out, &manifest, Tool::ComponentizeQjs)?,
        Language::Python => build_staged(dir, &out_dir, &out, &manifest, Tool::ComponentizePy)?,
    };
    let bytes = std::fs::read(&out).map_err(io(&out))?;
    Ok(Built {
        digest: format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
        bytes: bytes.len() as u64,
        path: out,
        took: started.elapsed(),
        tool,
        reused,
        manifest,
    })
}

fn build_rust(dir: &Path, out: &Path) -> Result<String, OpkitError> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(dir)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--message-format=json-render-diagnostics"]);
    let output = run(&mut cmd, "cargo")?;
    // The cdylib's `.wasm`, from cargo's own account of what it built.
    let wasm = String::from_utf8_lossy(&output)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .rfind(|f| f.extension().is_some_and(|e| e == "wasm"))
        .ok_or_else(|| OpkitError::NoComponent {
            tool: "cargo".into(),
            detail: ": no .wasm artifact; the crate needs `crate-type = [\"cdylib\"]`".into(),
        })?;
    std::fs::copy(&wasm, out).map_err(io(out))?;
    Ok("cargo (wasm32-wasip2)".into())
}

fn build_staged(dir: &Path, out_dir: &Path, out: &Path, m: &Manifest, tool: Tool) -> Result<(String, bool), OpkitError> {
    let label = format!("{} {}", tool.name(), tool.version());
    let entry = m.entry.as_deref().unwrap_or_default();
    if !dir.join(entry).is_file() {
        return Err(OpkitError::Manifest {
            path: dir.join(crate::manifest::MANIFEST_FILE),
            message: format!("entry `{entry}` does not exist in {}", dir.display()),
        });
    }
    let exe = tool.locate()?;
    let stage = out_dir.join("stage");
    let _ = std::fs::remove_dir_all(&stage);
    let (src, wit) = (stage.join("src"), stage.join("wit"));
    copy_sources(dir, &src, &[out_dir])?;
    let kit = if tool == Tool::ComponentizeQjs { JS_KIT } else { PYTHON_KIT };
    write(&src.join(kit.0), kit.1)?;
    // Trace's contract is the package built against, or with extra WIT of
    // the project's own, a dependency of it.
    let contract = match &m.wit {
        None => wit.clone(),
        Some(extra) => {
            copy_sources(&dir.join(extra), &wit, &[])?;
            wit.join("deps").join("trace-operator")
        }
    };
    for (name, text) in WIT {
        write(&contract.join(name), text)?;
    }

    let key = format!("{label}\n{}\n{}\n{}\n{}", m.world, entry, m.stub_wasi, tree_digest(&stage)?);
    let key_file = out.with_extension("wasm.key");
    if out.is_file() && std::fs::read_to_string(&key_file).is_ok_and(|k| k == key) {
        return Ok((label, true));
    }
    let _ = std::fs::remove_file(out);

    let mut cmd = Command::new(&exe);
    cmd.current_dir(&src).env_remove("VIRTUAL_ENV");
    match tool {
        Tool::ComponentizeQjs => {
            cmd.arg("--wit").arg(&wit).arg("--js").arg(src.join(entry)).args(["--world", &m.world]);
            // Non-async runtime: the host calls `run` synchronously.
            cmd.args(["--sync", "-o"]).arg(out);
        }
        Tool::ComponentizePy => {
            let module = entry.strip_suffix(".py").unwrap_or(entry);
            cmd.arg("-d").arg(&wit).args(["-w", &m.world, "componentize", "-p"]).arg(&src);
            cmd.arg(module).arg("-o").arg(out);
        }
    }
    if m.stub_wasi {
        // Every WASI import replaced by a trap: none reaches the host.
        cmd.arg("--stub-wasi");
    }
    run(&mut cmd, &label)?;
    if !out.is_file() {
        return Err(OpkitError::NoComponent { tool: label, detail: String::new() });
    }
    write(&key_file, &key)?;
    Ok((label, false))
}

/// Run `cmd`; its stdout on success, everything it said on failure.
fn run(cmd: &mut Command, tool: &str) -> Result<Vec<u8>, OpkitError> {
    let output = cmd.output().map_err(|e| OpkitError::ToolFailed {
        tool: tool.into(),
        status: "could not start".into(),
        output: e.to_string(),
    })?;
    if !output.status.success() {
        let mut said = String::from_utf8_lossy(&output.stderr).into_owned();
        if tool == "cargo" {
            // Diagnostics are rendered into the JSON stream's messages.
            for line in String::from_utf8_lossy(&output.stdout).lines() {
                if let Ok(m) = serde_json::from_str::<serde_json::Value>(line)
                    && let Some(text) = m["message"]["rendered"].as_str() {
                        said.push_str(text);
                    }
            }
        } else {
            said.push_str(&String::from_utf8_lossy(&output.stdout));
        }
        return Err(OpkitError::ToolFailed { tool: tool.into(), status: output.status.to_string(), output: said });
    }
    Ok(output.stdout)
}

/// Directories a project may have that are never sources.
const SKIP: &[&str] = &["build", "node_modules", "target", "__pycache__", ".git", ".venv"];

fn copy_sources(from: &Path, to: &Path, also_skip: &[&Path]) -> Result<(), OpkitError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    let entries = std::fs::read_dir(from).map_err(io(from))?;
    for entry in entries {
        let entry = entry.map_err(io(from))?;
        let path = entry.path();
        let name = entry.file_name();
        let file_type = entry.file_type().map_err(io(&path))?;
        if file_type.is_dir() {
            if SKIP.iter().any(|s| name == *s) || also_skip.iter().any(|s| *s == path) {
                continue;
            }
            copy_sources(&path, &to.join(&name), also_skip)?;
        } else if file_type.is_file() {
            std::fs::copy(&path, to.join(&name)).map_err(io(&path))?;
        }
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), OpkitError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(path, text).map_err(io(path))
}

/// sha256 over every file under `root`, by relative path, in sorted order.
fn tree_digest(root: &Path) -> Result<String, OpkitError> {
    fn walk(dir: &Path, root: &Path, files: &mut Vec<PathBuf>) -> Result<(), OpkitError> {
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            if path.is_dir() {
                walk(&path, root, files)?;
            } else {
                files.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(root, root, &mut files)?;
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        let bytes = std::fs::read(root.join(&f)).map_err(io(root.join(&f)))?;
        h.update(f.to_string_lossy().as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(hex::encode(h.finalize()))
}
