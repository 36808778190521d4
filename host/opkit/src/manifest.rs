//! `operator.yaml`: what an operator project is called, its language, the
//! world it is built for and its entry file. A Rust crate without one is an
//! operator too; its name comes from `Cargo.toml`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{io, OpkitError};

pub const MANIFEST_FILE: &str = "operator.yaml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Rust,
    Js,
    Python,
}

impl Language {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rust" | "rs" => Some(Self::Rust),
            "js" | "javascript" => Some(Self::Js),
            "python" | "py" => Some(Self::Python),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::Js => "js",
            Self::Python => "python",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub language: Language,
    /// `transform` or `source`.
    #[serde(default = "transform")]
    pub world: String,
    /// The module the component starts from (`operator.js`, `app.py`);
    /// unused for Rust, where cargo knows.
    #[serde(default)]
    pub entry: Option<String>,
    /// A directory of extra WIT documents (JavaScript and Python): their
    /// worlds may include Trace's, which is then a dependency. The host
    /// still decides at load what the component may import.
    #[serde(default)]
    pub wit: Option<String>,
    /// Replace every WASI import with a trap (JavaScript and Python; the
    /// default). Off, the component keeps what the tool imports, and the host
    /// refuses at load any import outside its minimal WASI.
    #[serde(default = "yes")]
    pub stub_wasi: bool,
}

fn yes() -> bool {
    true
}

fn transform() -> String {
    "transform".into()
}

impl Manifest {
    /// The project in `dir`: its `operator.yaml`, or a bare Rust crate.
    pub fn load(dir: &Path) -> Result<Self, OpkitError> {
        let path = dir.join(MANIFEST_FILE);
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            let manifest: Manifest = serde_norway::from_str(&text)
                .map_err(|e| OpkitError::Manifest { path: path.clone(), message: e.to_string() })?;
            return manifest.checked(&path);
        }
        let cargo = dir.join("Cargo.toml");
        if cargo.exists() {
            let name = dir.file_name().map(|n| n.to_string_lossy().replace('-', "_")).unwrap_or_default();
            return Ok(Manifest { name, language: Language::Rust, world: transform(), entry: None, wit: None, stub_wasi: true });
        }
        Err(OpkitError::NotAProject { dir: dir.to_path_buf() })
    }

    fn checked(self, path: &Path) -> Result<Self, OpkitError> {
        let bad = |message: String| OpkitError::Manifest { path: path.to_path_buf(), message };
        if !valid_name(&self.name) {
            return Err(bad(format!("name `{}` must match ^[a-z][a-z0-9_]{{0,63}}$", self.name)));
        }
        if self.world != "transform" && self.world != "source" && self.wit.is_none() {
            return Err(bad(format!("world `{}` must be `transform` or `source`", self.world)));
        }
        if self.language != Language::Rust {
            let entry = self.entry.as_deref().unwrap_or_default();
            if entry.is_empty() || entry.contains('/') || entry.contains('\\') {
                return Err(bad(format!("entry `{entry}` must name a file in the project directory")));
            }
        }
        Ok(self)
    }

    /// Where `trace op build` writes the component.
    pub fn output_path(&self, dir: &Path) -> PathBuf {
        dir.join("build").join(format!("{}.wasm", self.name))
    }
}

pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<Manifest, OpkitError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST_FILE), yaml).unwrap();
        Manifest::load(dir.path())
    }

    #[test]
    fn reads_and_checks_manifests() {
        let m = load("name: my_op\nlanguage: python\nentry: app.py\n").unwrap();
        assert_eq!((m.language, m.world.as_str()), (Language::Python, "transform"));

        let err = load("name: My-Op\nlanguage: js\nentry: a.js\n").unwrap_err().to_string();
        assert!(err.contains("name `My-Op` must match"), "{err}");
        let err = load("name: a\nlanguage: js\nentry: ../a.js\n").unwrap_err().to_string();
        assert!(err.contains("entry `../a.js` must name a file"), "{err}");
        let err = load("name: a\nlanguage: go\n").unwrap_err().to_string();
        assert!(err.contains("unknown variant `go`"), "{err}");
        let err = load("name: a\nlanguage: js\nentry: a.js\nworld: sink\n").unwrap_err().to_string();
        assert!(err.contains("world `sink`"), "{err}");
        let err = load("name: a\nlanguage: js\nentry: a.js\nextra: 1\n").unwrap_err().to_string();
        assert!(err.contains("unknown field `extra`"), "{err}");

        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(Manifest::load(empty.path()), Err(OpkitError::NotAProject { .. })));
    }
}
