//! Compile once: components are compiled to native code at most once per
//! (content digest, wasmtime version, engine settings), kept in memory for
//! the life of the runtime and, when a directory is configured, on disk
//! across restarts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use trace_core::Digest;
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::engine::compatibility_key;
use crate::error::LoadError;

pub struct ComponentCache {
    dir: Option<PathBuf>,
    key: String,
    memory: Mutex<HashMap<Digest, Component>>,
}

impl ComponentCache {
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        Self { dir, key: compatibility_key(engine), memory: Mutex::new(HashMap::new()) }
    }

    /// The compiled component for `bytes` (whose digest is `digest`).
    pub fn get_or_compile(&self, engine: &Engine, digest: Digest, bytes: &[u8]) -> Result<Component, LoadError> {
        if let Some(c) = self.memory.lock().expect("cache lock poisoned").get(&digest) {
            return Ok(c.clone());
        }
        let component = match &self.dir {
            Some(dir) => self.through_disk(engine, dir, digest, bytes)?,
            None => Component::new(engine, bytes).map_err(|source| LoadError::Compile { digest, source })?,
        };
        self.memory.lock().expect("cache lock poisoned").insert(digest, component.clone());
        Ok(component)
    }

    fn path_for(&self, dir: &Path, digest: Digest) -> PathBuf {
        dir.join(format!("{}-{}.cwasm", digest.hex(), self.key))
    }

    fn through_disk(&self, engine: &Engine, dir: &Path, digest: Digest, bytes: &[u8]) -> Result<Component, LoadError> {
        let path = self.path_for(dir, digest);
        if path.exists() {
            // SAFETY: files in the cache directory are written only by
            // `precompile_component` below, under a name that includes the
            // engine's compatibility key; wasmtime re-checks that on load.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(c) => return Ok(c),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "discarding unreadable compiled component"),
            }
        }
        let compiled = engine
            .precompile_component(bytes)
            .map_err(|source| LoadError::Compile { digest, source })?;
        let cache_err = |source| LoadError::Cache { path: path.display().to_string(), source };
        std::fs::create_dir_all(dir).map_err(cache_err)?;
        // Write then rename so a concurrent reader never sees half a file.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &compiled).map_err(cache_err)?;
        std::fs::rename(&tmp, &path).map_err(cache_err)?;
        // SAFETY: `compiled` was produced just now by this engine.
        unsafe { Component::deserialize(engine, &compiled) }.map_err(|source| LoadError::Compile { digest, source })
    }
}
