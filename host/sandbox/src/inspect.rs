//! What a component is and whether Trace would run it: its imports and
//! exports, size and digest, and the verdict for each world (`trace op
//! inspect`). The verdicts are the real load path, so they cannot disagree
//! with what a worker does.

use trace_core::Digest;

use crate::admission::{refusal, World};
use crate::error::LoadError;
use crate::runtime::Runtime;
use crate::shape::{shape, Shape};

/// One component, described.
#[derive(Debug)]
pub struct Inspection {
    pub digest: Digest,
    pub bytes: usize,
    /// Import names, each with the reason Trace refuses it in the source
    /// world, if it does (sources may use more than transforms).
    pub imports: Vec<(String, Option<String>)>,
    pub exports: Vec<String>,
    /// Its core modules, and what creating an instance of them entails.
    pub shape: Shape,
    /// Would it load as a transform, as a source?
    pub transform: Result<(), LoadError>,
    pub source: Result<(), LoadError>,
}

impl Runtime {
    /// Describe `bytes`. Fails only if they are not a component at all.
    pub fn inspect(&self, bytes: &[u8]) -> Result<Inspection, LoadError> {
        let digest = Digest::of(bytes);
        let component = wasmtime::component::Component::new(self.engine(), bytes).map_err(|source| LoadError::Compile { digest, source })?;
        let ty = component.component_type();
        let imports = ty.imports(self.engine()).map(|(name, _)| (name.to_owned(), refusal(World::Source, name))).collect();
        let exports = ty.exports(self.engine()).map(|(name, _)| name.to_owned()).collect();
        // Compiling it above already checked every byte.
        let shape = shape(bytes).map_err(|e| LoadError::Compile { digest, source: e.into() })?;
        Ok(Inspection {
            digest,
            bytes: bytes.len(),
            imports,
            exports,
            shape,
            transform: self.load(bytes, World::Transform).map(drop),
            source: self.load(bytes, World::Source).map(drop),
        })
    }
}
