//! The local cache of dataset files fetched from object storage, bounded in
//! bytes. Objects never change under their keys, so a cached copy is good
//! forever; when the cache is full the least recently used files go, except
//! those a running query holds (a [`CacheLease`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::error::QueryError;

#[derive(Debug)]
pub struct FileCache {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// File name → (bytes, last used).
    files: HashMap<String, (u64, Instant)>,
    bytes: u64,
    /// File name → queries holding it.
    held: HashMap<String, usize>,
}

/// The files one query reads from the cache; none of them is evicted until
/// the lease is dropped.
#[derive(Debug, Default)]
pub struct CacheLease {
    cache: Option<Arc<FileCache>>,
    names: Vec<String>,
}

impl FileCache {
    /// A cache in `dir`, emptied first (what a previous process left is not
    /// counted, so it is not trusted either).
    pub fn new(dir: PathBuf, max_bytes: u64) -> Result<Arc<Self>, QueryError> {
        let setup = |e: std::io::Error| QueryError::Setup(format!("preparing the file cache {}: {e}", dir.display()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(setup)?;
        }
        std::fs::create_dir_all(&dir).map_err(setup)?;
        Ok(Arc::new(FileCache { dir, max_bytes, state: Mutex::new(State::default()) }))
    }

    fn name(object_key: &str) -> String {
        // One flat directory; the key's own characters are safe in a name
        // once its separators are.
        object_key.replace('/', "__")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached copy of `object_key`, held by `lease`, if there is one.
    pub fn hold(self: &Arc<Self>, object_key: &str, lease: &mut CacheLease) -> Option<PathBuf> {
        let name = Self::name(object_key);
        let mut state = self.lock();
        let (_, used) = state.files.get_mut(&name)?;
        *used = Instant::now();
        *state.held.entry(name.clone()).or_insert(0) += 1;
        lease.add(self, name.clone());
        Some(self.dir.join(name))
    }

    /// Store `data` as `object_key`'s copy, held by `lease`, evicting least
    /// recently used files nobody holds to make room.
    pub fn insert(self: &Arc<Self>, object_key: &str, data: &[u8], lease: &mut CacheLease) -> Result<PathBuf, QueryError> {
        let name = Self::name(object_key);
        let size = data.len() as u64;
        let path = self.dir.join(&name);
        {
            let mut state = self.lock();
            if let Some(p) = self.make_room(&mut state, size) {
                return Err(p);
            }
            // Counted before it is written so two queries cannot both
            // squeeze into the same free space.
            state.bytes += size;
            state.files.insert(name.clone(), (size, Instant::now()));
            *state.held.entry(name.clone()).or_insert(0) += 1;
        }
        lease.add(self, name.clone());
        write_atomically(&path, data).map_err(|e| QueryError::Setup(format!("caching a dataset file: {e}")))?;
        Ok(path)
    }

    fn make_room(&self, state: &mut State, size: u64) -> Option<QueryError> {
        if size > self.max_bytes {
            return Some(QueryError::CacheFull { need: size, limit: self.max_bytes });
        }
        while state.bytes + size > self.max_bytes {
            let oldest = state
                .files
                .iter()
                .filter(|(n, _)| !state.held.contains_key(*n))
                .min_by_key(|(_, (_, used))| *used)
                .map(|(n, (bytes, _))| (n.clone(), *bytes));
            let Some((name, bytes)) = oldest else {
                return Some(QueryError::CacheFull { need: size, limit: self.max_bytes });
            };
            let _ = std::fs::remove_file(self.dir.join(&name));
            state.files.remove(&name);
            state.bytes -= bytes;
        }
        None
    }

    /// Bytes cached now.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    fn release(&self, names: &[String]) {
        let mut state = self.lock();
        for name in names {
            if let Some(n) = state.held.get_mut(name) {
                *n -= 1;
                if *n == 0 {
                    state.held.remove(name);
                }
            }
        }
    }
}

impl CacheLease {
    fn add(&mut self, cache: &Arc<FileCache>, name: String) {
        self.cache.get_or_insert_with(|| cache.clone());
        self.names.push(name);
    }
}

impl Drop for CacheLease {
    fn drop(&mut self) {
        if let Some(cache) = &self.cache {
            cache.release(&self.names);
        }
    }
}

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let temp = path.with_extension(format!("part-{}", std::process::id()));
    std::fs::write(&temp, data)?;
    std::fs::rename(temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_within_its_bytes_and_never_evicts_a_held_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(dir.path().join("c"), 100).unwrap();
        let mut a = CacheLease::default();
        let first = cache.insert("orgs/1/a", &[1; 60], &mut a).unwrap();
        // Held: no room for 60 more.
        let mut b = CacheLease::default();
        match cache.insert("orgs/1/b", &[2; 60], &mut b) {
            Err(QueryError::CacheFull { need: 60, limit: 100 }) => {}
            other => panic!("expected the cache to be full, got {other:?}"),
        }
        drop(a);
        // Released: it is evicted to make room.
        let second = cache.insert("orgs/1/b", &[2; 60], &mut b).unwrap();
        assert!(!first.exists() && second.exists());
        assert_eq!(cache.bytes(), 60);
        assert!(cache.hold("orgs/1/a", &mut b).is_none());
        assert_eq!(cache.hold("orgs/1/b", &mut b), Some(second));
        match cache.insert("orgs/1/huge", &[0; 101], &mut b) {
            Err(QueryError::CacheFull { need: 101, limit: 100 }) => {}
            other => panic!("expected a file over the whole cache to be refused, got {other:?}"),
        }
    }
}
