//! The seam between the sandbox and host-side data: the sandbox streams
//! Arrow IPC bytes from a [`BatchSource`] to the guest without knowing where
//! they come from (a local Parquet file, an object store, a test vector).

/// A stream of input batches, each one Arrow IPC stream (schema + one batch).
pub trait BatchSource: Send {
    /// The next batch, or `None` at the end. Errors are shown to the guest.
    fn next_batch(&mut self) -> Result<Option<Vec<u8>>, String>;
}

/// A fixed list of already-encoded batches (tests, small JSON-driven runs).
#[derive(Debug, Default)]
pub struct VecSource {
    batches: std::collections::VecDeque<Vec<u8>>,
}

impl VecSource {
    pub fn new(batches: impl IntoIterator<Item = Vec<u8>>) -> Self {
        Self {
            batches: batches.into_iter().collect(),
        }
    }
}

impl BatchSource for VecSource {
    fn next_batch(&mut self) -> Result<Option<Vec<u8>>, String> {
        Ok(self.batches.pop_front())
    }
}

/// Several sources one after another (an input's partitions, in order).
pub struct ChainSource {
    sources: std::collections::VecDeque<Box<dyn BatchSource>>,
}

impl ChainSource {
    pub fn new(sources: Vec<Box<dyn BatchSource>>) -> Self {
        Self { sources: sources.into() }
    }
}

impl BatchSource for ChainSource {
    fn next_batch(&mut self) -> Result<Option<Vec<u8>>, String> {
        while let Some(source) = self.sources.front_mut() {
            match source.next_batch()? {
                Some(batch) => return Ok(Some(batch)),
                None => {
                    self.sources.pop_front();
                }
            }
        }
        Ok(None)
    }
}
