//! The least that moving the example UDF's data across the sandbox boundary
//! can cost on this machine, measured on the same batches without any wasm:
//!
//! - reading every cache line of the batches where they lie (what the native
//!   baseline's own reads of its input amount to);
//! - copying each batch into one reused buffer and reading it there (what the
//!   component model's hand-over of a `list<u8>` does);
//! - mapping each batch's pages into that buffer from a memfd, copy-on-write,
//!   and reading them (the zero-copy alternative a host could build);
//! - copying the output bytes out once (what lifting the guest's output does,
//!   beyond the page faults that native output pays as well).
//!
//! The input is evicted from the caches before each round, as it is when a
//! task starts on a fetched partition. Linux only (memfd, `MAP_FIXED`).

use std::time::Duration;

use crate::report::best_of_with;

/// Cache line size: one read per line touches every byte's line.
const LINE: usize = 64;

/// Bytes written before each round to push the batches out of the caches.
const EVICT_BYTES: usize = 256 << 20;

pub struct Floor {
    pub read_in_place: Duration,
    pub copy_then_read: Duration,
    pub map_then_read: Duration,
    pub copy_out: Duration,
}

impl Floor {
    /// What the copy adds over reading the bytes where they lie.
    pub fn copy_in_extra(&self) -> Duration {
        self.copy_then_read.saturating_sub(self.read_in_place)
    }

    /// The best sandboxed/native ratio a copying hand-over allows: the
    /// guest's own work as fast as native, plus the copies in and out.
    pub fn ceiling(&self, native: Duration) -> f64 {
        native.as_secs_f64() / (native + self.copy_in_extra() + self.copy_out).as_secs_f64()
    }
}

pub fn measure(batches: &[Vec<u8>], output_bytes: usize, rounds: usize) -> Floor {
    let largest = batches.iter().map(Vec::len).max().unwrap_or(0);
    let read_in_place = best_of_with(rounds, evict, |_| batches.iter().map(|b| read_lines(b)).sum::<u64>()).0;

    let mut buffer = vec![0u8; largest];
    let copy_then_read = best_of_with(rounds, evict, |_| {
        batches
            .iter()
            .map(|b| {
                buffer[..b.len()].copy_from_slice(b);
                read_lines(std::hint::black_box(&buffer[..b.len()]))
            })
            .sum::<u64>()
    })
    .0;

    let mut mapped = MappedBatches::new(batches);
    let map_then_read = best_of_with(rounds, evict, |_| mapped.map_each_and_read()).0;

    // Each output batch is copied while still hot from the guest's encoding,
    // into memory already faulted in: the native run pays for first touching
    // its output pages too, when it encodes; only the copy is extra.
    let chunk = output_bytes.div_ceil(batches.len().max(1)).max(1);
    let hot: Vec<u8> = (0..chunk).map(|i| i as u8).collect();
    let mut landed = vec![1u8; output_bytes];
    let copy_out = best_of_with(rounds, || (), |_| {
        for part in landed.chunks_mut(chunk) {
            part.copy_from_slice(std::hint::black_box(&hot[..part.len()]));
        }
    })
    .0;
    Floor { read_in_place, copy_then_read, map_then_read, copy_out }
}

fn evict() {
    let junk = vec![1u8; EVICT_BYTES];
    std::hint::black_box(&junk);
}

/// Touch every cache line of `bytes` (black-boxed so it is not optimised out).
fn read_lines(bytes: &[u8]) -> u64 {
    let sum = bytes.iter().step_by(LINE).map(|&b| u64::from(b)).sum();
    std::hint::black_box(sum)
}

/// The batches in one memfd, each at a page-aligned offset, and a window of
/// address space that each batch is mapped into in turn.
struct MappedBatches {
    fd: libc::c_int,
    spans: Vec<Span>,
    window: *mut libc::c_void,
    window_len: usize,
}

/// Where one batch lies in the memfd.
#[derive(Clone, Copy)]
struct Span {
    offset: usize,
    len: usize,
    /// `len` rounded up to whole pages: what one mapping of it covers.
    mapped: usize,
}

fn page_round(n: usize) -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    n.div_ceil(page) * page
}

impl MappedBatches {
    fn new(batches: &[Vec<u8>]) -> Self {
        let mut spans = Vec::with_capacity(batches.len());
        let mut at = 0;
        for b in batches {
            let span = Span { offset: at, len: b.len(), mapped: page_round(b.len()) };
            spans.push(span);
            at += span.mapped;
        }
        let window_len = spans.iter().map(|s| s.mapped).max().unwrap_or(0).max(page_round(1));
        // SAFETY: plain syscalls on a descriptor and mappings this struct owns;
        // every pointer written through comes from a successful mmap of at
        // least the length written.
        unsafe {
            let fd = libc::memfd_create(c"trace-bench-batches".as_ptr(), 0);
            assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
            assert_eq!(libc::ftruncate(fd, at.max(1) as libc::off_t), 0, "ftruncate: {}", std::io::Error::last_os_error());
            let all = libc::mmap(std::ptr::null_mut(), at.max(1), libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0);
            assert_ne!(all, libc::MAP_FAILED, "mmap: {}", std::io::Error::last_os_error());
            for (b, s) in batches.iter().zip(&spans) {
                std::ptr::copy_nonoverlapping(b.as_ptr(), all.cast::<u8>().add(s.offset), s.len);
            }
            libc::munmap(all, at.max(1));
            let window = libc::mmap(std::ptr::null_mut(), window_len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
            assert_ne!(window, libc::MAP_FAILED, "mmap: {}", std::io::Error::last_os_error());
            Self { fd, spans, window, window_len }
        }
    }

    /// Map batch `index` over the window (private, writable: a guest may
    /// write to its memory) and return its bytes there. `&mut self`: the
    /// next mapping replaces these bytes, so no two views may coexist.
    fn map(&mut self, index: usize) -> &[u8] {
        let Span { offset, len, mapped } = self.spans[index];
        // SAFETY: the window is ours and at least `mapped` long;
        // MAP_FIXED replaces only pages inside it; the slice borrows `self`
        // mutably, so it is gone before the window is mapped again.
        unsafe {
            let p = libc::mmap(self.window, mapped, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_FIXED, self.fd, offset as libc::off_t);
            assert_eq!(p, self.window, "mmap: {}", std::io::Error::last_os_error());
            std::slice::from_raw_parts(p.cast::<u8>(), len)
        }
    }

    /// Map each batch in turn and read it, as a guest would after a
    /// zero-copy hand-over.
    fn map_each_and_read(&mut self) -> u64 {
        (0..self.spans.len()).map(|i| read_lines(self.map(i))).sum()
    }
}

impl Drop for MappedBatches {
    fn drop(&mut self) {
        // SAFETY: both were created in `new` and are released once.
        unsafe {
            libc::munmap(self.window, self.window_len);
            libc::close(self.fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mapped_batch_reads_back_exactly_its_bytes() {
        // Sizes around page boundaries, so every batch starts at a page of
        // its own in the memfd whatever the one before it left over.
        let batches: Vec<Vec<u8>> = [1, 4095, 4096, 4097, 3 * 4096 + 17]
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|j| (i * 31 + j * 7) as u8).collect())
            .collect();
        let mut mapped = MappedBatches::new(&batches);
        for (i, batch) in batches.iter().enumerate().rev() {
            assert_eq!(mapped.map(i), batch.as_slice(), "batch {i}");
        }
        let expected: u64 = batches.iter().map(|b| read_lines(b)).sum();
        assert_eq!(mapped.map_each_and_read(), expected);
    }

    #[test]
    fn the_ceiling_counts_only_what_the_copies_add() {
        let ms = Duration::from_millis;
        let floor = Floor { read_in_place: ms(9), copy_then_read: ms(11), map_then_read: ms(30), copy_out: ms(4) };
        assert_eq!(floor.copy_in_extra(), ms(2));
        // 20 / (20 + 2 + 4)
        assert!((floor.ceiling(ms(20)) - 20.0 / 26.0).abs() < 1e-9);
        // A copy measured faster than reading in place adds nothing.
        let noisy = Floor { copy_then_read: ms(8), ..floor };
        assert_eq!(noisy.copy_in_extra(), Duration::ZERO);
    }
}
