//! A hostile operator: each `config.attack` tries one way of escaping or
//! exhausting the sandbox. The host's tests run every attack and assert it is
//! contained with its named error, then run a normal task on the same host.

use std::sync::Arc;

use trace_guest::arrow_array::{ArrayRef, DictionaryArray, FixedSizeListArray, Int32Array, ListArray, NullArray, RecordBatch, StringArray, UInt64Array};
use trace_guest::arrow_buffer::OffsetBuffer;
use trace_guest::arrow_schema::{DataType, Field, Schema};
use trace_guest::bindings::trace::operator::columns::{Column, Values};
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
            // Not an attack: a task that uses `config.mib` MiB and ends well
            // (what the usage records must show).
            "allocate" => {
                let mib = config.get("mib").and_then(|v| v.as_u64()).unwrap_or(1) as usize;
                let block = std::hint::black_box(vec![1u8; mib << 20]);
                log::info(&format!("held {} MiB", block.len() >> 20));
                events::emit(Event::range(0, 0, 1))
            }
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
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                report("woke up".into())
            }
            "poll_forever" => {
                use wasip2::clocks::monotonic_clock::subscribe_duration;
                let hour = subscribe_duration(3_600_000_000_000);
                let day = subscribe_duration(86_400_000_000_000);
                wasip2::io::poll::poll(&[&hour, &day]);
                report("poll returned".into())
            }
            "pollable_flood" => loop {
                std::mem::forget(wasip2::clocks::monotonic_clock::subscribe_duration(1));
            },
            "random_flood" => report(format!("got {} bytes", wasip2::random::random::get_random_bytes(1 << 30).len())),
            "null_rows" => output::write(0, &null_column(1 << 30)),
            "many_rows" => loop {
                output::write(0, &null_column(1 << 20))?;
            },
            "nested_nulls" => output::write(0, &nested_nulls(1 << 30)),
            "batch_flood" => loop {
                output::write(0, &one_column(1))?;
            },
            "wide_batch" => output::write(0, &wide_batch(2_000)),
            "wide_columns" => write_columns(wide_columns(200_000)),
            "deep_type" => output::write(0, &deep_type(40)),
            "deep_arrow_type" => {
                let arrow_type = format!("{}Int64{}", "List(".repeat(10_000), ")".repeat(10_000));
                write_columns(vec![utf8_column("x", arrow_type, Vec::new())])
            }
            "dictionary_output" => output::write(0, &dictionary_column()),
            "call_bytes" => write_columns(vec![utf8_column("s", String::new(), vec![String::new(); 1 << 20])]),
            "state_keys" => {
                let value = [7u8; 64];
                for i in 0..5_000_000u64 {
                    state::put(&format!("{i:064}"), &value)?;
                }
                report("all keys written".into())
            }
            "state_bytes" => {
                let value = vec![7u8; 1 << 20];
                for i in 0..1_000u64 {
                    state::put(&format!("big-{i}"), &value)?;
                }
                report("all values written".into())
            }
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

/// One column of `rows` nulls: no buffers at all, whatever `rows` is.
fn null_column(rows: usize) -> RecordBatch {
    let schema = Schema::new(vec![Field::new("n", DataType::Null, true)]);
    RecordBatch::try_new(Arc::new(schema), vec![Arc::new(NullArray::new(rows))]).expect("valid batch")
}

/// One row holding `per_row` null elements (a fixed-size list of nulls).
fn nested_nulls(per_row: i32) -> RecordBatch {
    let item = Arc::new(Field::new("item", DataType::Null, true));
    let list = FixedSizeListArray::new(item, per_row, Arc::new(NullArray::new(per_row as usize)), None);
    RecordBatch::try_from_iter([("l", Arc::new(list) as ArrayRef)]).expect("valid batch")
}

fn wide_batch(columns: usize) -> RecordBatch {
    RecordBatch::try_from_iter((0..columns).map(|i| (format!("c{i}"), Arc::new(UInt64Array::from(vec![1u64])) as ArrayRef))).expect("valid batch")
}

/// A column of one row whose type is a list nested `depth` deep.
fn deep_type(depth: usize) -> RecordBatch {
    let mut array: ArrayRef = Arc::new(UInt64Array::from(vec![1u64]));
    for _ in 0..depth {
        let item = Arc::new(Field::new("item", array.data_type().clone(), true));
        array = Arc::new(ListArray::new(item, OffsetBuffer::from_lengths([array.len()]), array, None));
    }
    RecordBatch::try_from_iter([("deep", array)]).expect("valid batch")
}

fn dictionary_column() -> RecordBatch {
    let keys = Int32Array::from(vec![0; 1_000]);
    let dict = DictionaryArray::new(keys, Arc::new(StringArray::from(vec!["x".repeat(1 << 20)])));
    RecordBatch::try_from_iter([("d", Arc::new(dict) as ArrayRef)]).expect("valid batch")
}

fn utf8_column(name: &str, arrow_type: String, values: Vec<String>) -> Column {
    Column { name: name.into(), arrow_type, values: Values::Utf8(values), nulls: None }
}

fn wide_columns(count: usize) -> Vec<Column> {
    (0..count).map(|i| Column { name: format!("c{i}"), arrow_type: String::new(), values: Values::Int64(vec![1]), nulls: None }).collect()
}

fn write_columns(columns: Vec<Column>) -> Result<(), OperatorError> {
    trace_guest::bindings::trace::operator::columns::write(0, &columns).map_err(fatal)
}

fn one_column(rows: u64) -> RecordBatch {
    let schema = Schema::new(vec![Field::new("n", DataType::UInt64, false)]);
    RecordBatch::try_new(std::sync::Arc::new(schema), vec![std::sync::Arc::new(UInt64Array::from_iter_values(0..rows))])
        .expect("valid batch")
}

trace_guest::export_operator!(Hostile);
