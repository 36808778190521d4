//! A hostile operator: each `config.attack` tries one way of escaping or
//! exhausting the sandbox. The host's tests run every attack and assert it is
//! contained with its named error, then run a normal task on the same host.

use trace_guest::arrow_array::{RecordBatch, UInt64Array};
use trace_guest::arrow_schema::{DataType, Field, Schema};
use trace_guest::prelude::*;

struct Hostile;

impl Operator for Hostile {
    fn run(ctx: &TaskContext, _event: &InputEvent) -> Result<(), OperatorError> {
        let config = config::parse(ctx)?;
        let attack = config::str_field(&config, "attack").unwrap_or("");
        match attack {
            "infinite_loop" => infinite_loop(),
            "remember" => remember(),
            "scatter" => scatter(),
            "memory_bomb" => memory_bomb(),
            "stack_overflow" => {
                recurse(0, &mut [0u8; 1024]);
                Ok(())
            }
            "wasm_stack_overflow" => {
                recurse_small(0);
                Ok(())
            }
            "deep_recursion_host_call" => {
                recurse_calling_host(0);
                Ok(())
            }
            "output_flood" => loop {
                output::write(0, &one_column(1024))?;
            },
            "event_flood" => {
                for i in 0u64.. {
                    events::emit(Event::range(0, i, i + 1))?;
                }
                Ok(())
            }
            "log_flood" => loop {
                log::info(&"x".repeat(4096));
            },
            "stdout_flood" => loop {
                println!("{}", "y".repeat(4096));
            },
            "huge_state" => state::put("big", &vec![7u8; 64 << 20]),
            "huge_partition_key" => events::emit(Event {
                output: 0,
                partition_key: "k".repeat(1 << 20),
                range: None,
                cursor: None,
            }),
            "read_env" => report(format!(
                "env={:?} args={:?}",
                std::env::vars().collect::<Vec<_>>(),
                std::env::args().collect::<Vec<_>>()
            )),
            "read_file" => report(format!(
                "read /etc/passwd: {:?}; list /: {:?}",
                std::fs::read_to_string("/etc/passwd").map_err(|e| e.kind()),
                std::fs::read_dir("/").map(|d| d.count()).map_err(|e| e.kind()),
            )),
            "write_file" => report(format!(
                "write /tmp/trace-escape: {:?}",
                std::fs::write("/tmp/trace-escape", b"escaped").map_err(|e| e.kind())
            )),
            "trap_mid_write" => {
                output::write(0, &one_column(16))?;
                events::emit(Event::range(0, 0, 1))?;
                state::put("half", b"written")?;
                panic!("trapping after a partial write")
            }
            "bad_output_index" => output::write(7, &one_column(1)),
            "backwards_range" => events::emit(Event::range(0, 10, 5)),
            "bad_event_output" => events::emit(Event::range(3, 0, 1)),
            "garbage_output" => output::write(0, &one_column(1)).and_then(|()| {
                trace_guest::bindings::trace::operator::output::write_batch(0, b"not arrow")
                    .map_err(fatal)
            }),
            other => Err(fatal(format!("unknown attack {other:?}"))),
        }
    }
}

/// Return what the guest saw as a fatal error, so the host test can read it.
fn report(seen: String) -> Result<(), OperatorError> {
    Err(fatal(seen))
}

/// Counts runs in a static (the data segment, low in memory) and marks a
/// 16 MiB heap block (past what the pool keeps resident); reports what an
/// earlier task left of either. A fresh instance must see neither.
fn remember() -> Result<(), OperatorError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RUNS: AtomicU64 = AtomicU64::new(0);
    const BLOCK: usize = 16 << 20;
    let runs_before = RUNS.fetch_add(1, Ordering::SeqCst);
    let layout = std::alloc::Layout::from_size_align(BLOCK, 4096).expect("layout");
    // SAFETY: the block is `BLOCK` bytes; it is read before it is written on
    // purpose (whatever an earlier task left there is the point) and never freed.
    let marked_pages = unsafe {
        let block = std::alloc::alloc(layout);
        let marked = (0..BLOCK).step_by(4096).filter(|&at| std::ptr::read_volatile(block.add(at)) == 0xAB).count();
        std::ptr::write_bytes(block, 0xAB, BLOCK);
        marked
    };
    report(format!("runs_before={runs_before} marked_pages={marked_pages}"))
}

/// Pages of [`IMAGE`], and the pages `scatter` writes: every other one, so
/// that each is a dirty region of its own.
const IMAGE_PAGES: usize = 512;
const PAGE: usize = 4096;

/// An initialised static: part of the component's data segment, so its pages
/// start out mapped copy-on-write from the compiled image.
static IMAGE: [std::sync::atomic::AtomicU8; IMAGE_PAGES * PAGE] = [const { std::sync::atomic::AtomicU8::new(0x5A) }; IMAGE_PAGES * PAGE];

/// Marks the first byte of every other page of [`IMAGE`] (256 separate dirty
/// regions), then reports how many of those an earlier task left marked and
/// how many of the pages in between lost their initial contents. A reset
/// slot must show neither, however scattered the last task's writes were.
fn scatter() -> Result<(), OperatorError> {
    use std::sync::atomic::Ordering::Relaxed;
    let (mut marked, mut changed) = (0, 0);
    for page in 0..IMAGE_PAGES {
        let byte = &IMAGE[page * PAGE];
        if page % 2 == 1 {
            changed += usize::from(byte.load(Relaxed) != 0x5A);
        } else {
            marked += usize::from(byte.swap(0xA5, Relaxed) == 0xA5);
        }
    }
    report(format!("marked_pages={marked} changed_pages={changed}"))
}

fn infinite_loop() -> Result<(), OperatorError> {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

fn memory_bomb() -> Result<(), OperatorError> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 16 << 20];
        chunk[0] = 1;
        hoard.push(std::hint::black_box(chunk));
    }
}

#[inline(never)]
#[expect(unconditional_recursion, reason = "the attack is to overflow the stack")]
fn recurse(depth: u64, pad: &mut [u8; 1024]) -> u64 {
    pad[(depth % 1024) as usize] = depth as u8;
    let mut next = [0u8; 1024];
    std::hint::black_box(&mut next);
    depth + recurse(depth + 1, std::hint::black_box(&mut next)) + u64::from(pad[0])
}

#[inline(never)]
#[expect(unconditional_recursion, reason = "the attack is to overflow the stack")]
fn recurse_small(depth: u64) -> u64 {
    // Small frames stay off the shadow stack and exhaust wasmtime's own.
    depth + recurse_small(std::hint::black_box(depth + 1))
}

#[inline(never)]
#[expect(unconditional_recursion, reason = "the attack is to overflow the stack")]
fn recurse_calling_host(depth: u64) -> u64 {
    // Each level crosses into the host and back before going deeper.
    let seen = state::get("depth").map_or(0, |v| v.len() as u64);
    depth + seen + recurse_calling_host(std::hint::black_box(depth + 1))
}

fn one_column(rows: u64) -> RecordBatch {
    let schema = Schema::new(vec![Field::new("n", DataType::UInt64, false)]);
    RecordBatch::try_new(std::sync::Arc::new(schema), vec![std::sync::Arc::new(UInt64Array::from_iter_values(0..rows))])
        .expect("valid batch")
}

trace_guest::export_operator!(Hostile);
