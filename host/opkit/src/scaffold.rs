//! `trace op new`: a working operator project in Rust, JavaScript or Python
//! that keeps the rows whose value reaches a threshold, with its logic in a
//! module of its own and a test in the language's usual runner.

use std::path::{Path, PathBuf};

use crate::embedded::RUST_SDK_DIR;
use crate::error::{io, OpkitError};
use crate::manifest::{valid_name, Language};

const JS: &[(&str, &str)] = &[
    ("operator.yaml", include_str!("../templates/js/operator.yaml")),
    ("operator.js", include_str!("../templates/js/operator.js")),
    ("logic.js", include_str!("../templates/js/logic.js")),
    ("logic.test.mjs", include_str!("../templates/js/logic.test.mjs")),
];

const PYTHON: &[(&str, &str)] = &[
    ("operator.yaml", include_str!("../templates/python/operator.yaml")),
    ("app.py", include_str!("../templates/python/app.py")),
    ("logic.py", include_str!("../templates/python/logic.py")),
    ("test_logic.py", include_str!("../templates/python/test_logic.py")),
];

const RUST: &[(&str, &str)] = &[
    ("operator.yaml", include_str!("../templates/rust/operator.yaml")),
    ("Cargo.toml", include_str!("../templates/rust/Cargo.toml")),
    (".cargo/config.toml", include_str!("../templates/rust/.cargo/config.toml")),
    ("src/lib.rs", include_str!("../templates/rust/src/lib.rs")),
    ("src/logic.rs", include_str!("../templates/rust/src/logic.rs")),
];

const GITIGNORE: &str = "build/\ntarget/\n__pycache__/\n";

/// Create `parent/name` as a new operator project; returns its directory and
/// the command that runs its test.
pub fn scaffold(parent: &Path, name: &str, language: Language) -> Result<(PathBuf, &'static str), OpkitError> {
    if !valid_name(name) {
        return Err(OpkitError::BadName { name: name.into() });
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(OpkitError::Exists { path: dir });
    }
    let (files, test) = match language {
        Language::Js => (JS, "node --test"),
        Language::Python => (PYTHON, "python3 -m unittest"),
        Language::Rust => (RUST, "cargo test"),
    };
    let sdk = Path::new(RUST_SDK_DIR).canonicalize().unwrap_or_else(|_| PathBuf::from(RUST_SDK_DIR));
    for (file, template) in files.iter().chain([&(".gitignore", GITIGNORE)]) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("inside the project")).map_err(io(&dir))?;
        let text = template.replace("{{name}}", name).replace("{{sdk}}", &sdk.display().to_string());
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    Ok((dir, test))
}
