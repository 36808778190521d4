//! The external builders, pinned: componentize-qjs (QuickJS; npm) for
//! JavaScript and componentize-py (PyPI) for Python, found in Trace's tools
//! directory or on `PATH`. `guest-sdk/install-tools.sh` installs both there.

use std::path::{Path, PathBuf};

use crate::error::OpkitError;

/// The script that installs the pinned tools into [`tools_dir`].
pub const INSTALL_SCRIPT: &str = "guest-sdk/install-tools.sh";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    ComponentizeQjs,
    ComponentizePy,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::ComponentizeQjs => "componentize-qjs",
            Tool::ComponentizePy => "componentize-py",
        }
    }

    /// The version Trace's kits are built and tested with.
    pub fn version(self) -> &'static str {
        match self {
            Tool::ComponentizeQjs => "0.4.5",
            Tool::ComponentizePy => "0.25.1",
        }
    }

    fn env_var(self) -> &'static str {
        match self {
            Tool::ComponentizeQjs => "TRACE_COMPONENTIZE_QJS",
            Tool::ComponentizePy => "TRACE_COMPONENTIZE_PY",
        }
    }

    /// Where the install script puts it, under the tools directory.
    fn installed_at(self, tools: &Path) -> PathBuf {
        match self {
            Tool::ComponentizeQjs => tools.join("js/node_modules/.bin/componentize-qjs"),
            Tool::ComponentizePy => tools.join("py/bin/componentize-py"),
        }
    }

    fn install_hint(self) -> String {
        let by_hand = match self {
            Tool::ComponentizeQjs => format!("npm install --prefix {} componentize-qjs@{}", tools_dir().join("js").display(), self.version()),
            Tool::ComponentizePy => format!(
                "python3 -m venv {0} && {0}/bin/pip install componentize-py=={1}",
                tools_dir().join("py").display(),
                self.version()
            ),
        };
        format!("bash {INSTALL_SCRIPT}` from a Trace checkout, or `{by_hand}")
    }

    /// The executable: `$TRACE_COMPONENTIZE_*`, the tools directory, then `PATH`.
    pub fn locate(self) -> Result<PathBuf, OpkitError> {
        let mut looked = Vec::new();
        if let Some(path) = std::env::var_os(self.env_var()) {
            let path = PathBuf::from(path);
            if path.is_file() {
                return Ok(path);
            }
            looked.push(format!("${}={}", self.env_var(), path.display()));
        }
        let installed = self.installed_at(&tools_dir());
        if installed.is_file() {
            return Ok(installed);
        }
        looked.push(installed.display().to_string());
        if let Some(found) = on_path(self.name()) {
            return Ok(found);
        }
        looked.push("PATH".into());
        Err(OpkitError::ToolMissing { tool: self.name(), looked: looked.join(", "), install: self.install_hint() })
    }
}

/// `$TRACE_TOOLS_DIR`, else `$XDG_CACHE_HOME/trace/tools`, else `~/.cache/trace/tools`.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TRACE_TOOLS_DIR") {
        return dir.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("trace").join("tools")
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| p.is_file())
}
