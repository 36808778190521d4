//! Linkers, one per world, defining only what that world grants. WASI is
//! linked interface by interface: io, cli, clocks, random and filesystem (with
//! no preopened directories). Sockets and HTTP are never linked, so a
//! component that imports them fails admission instead.

use wasmtime::Engine;
use wasmtime::component::{HasData, HasSelf, Linker, ResourceTable};
use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView as _};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView as _};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sync};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::WasiView;

use crate::admission::World;
use crate::bindings::trace::operator as trace_op;
use crate::task_state::TaskState;

/// Build the linker for `world`.
pub fn build(engine: &Engine, world: World) -> wasmtime::Result<Linker<TaskState>> {
    let mut linker = Linker::new(engine);
    add_minimal_wasi(&mut linker)?;
    let l = &mut linker;
    // The calls that can wait, bounded by the task's deadline (`host_io`).
    sync::io::poll::add_to_linker::<TaskState, HasSelf<TaskState>>(l, |s| s)?;
    sync::io::streams::add_to_linker::<TaskState, HasSelf<TaskState>>(l, |s| s)?;
    trace_op::types::add_to_linker::<TaskState, HasSelf<TaskState>>(l, |s| s)?;
    trace_op::input::add_to_linker::<TaskState, HasSelf<TaskState>>(l, |s| s)?;
    trace_op::output::add_to_linker::<TaskState, HasSelf<TaskState>>(l, |s| s)?;
    trace_op::columns::add_to_linker::<TaskState, HasSelf<TaskState>>(l, |s| s)?;
    trace_op::events::add_to_linker::<TaskState, HasSelf<TaskState>>(l, |s| s)?;
    trace_op::state::add_to_linker::<TaskState, HasSelf<TaskState>>(l, |s| s)?;
    trace_op::log::add_to_linker::<TaskState, HasSelf<TaskState>>(l, |s| s)?;
    if world == World::Source {
        trace_op::rpc::add_to_linker::<TaskState, HasSelf<TaskState>>(l, |s| s)?;
    }
    Ok(linker)
}

struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// What a `wasm32-wasip2` guest imports just to start, and nothing more
/// (`wasi:io/poll` and `wasi:io/streams` are linked by [`build`]).
fn add_minimal_wasi<T: WasiView>(l: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;

    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, |t| t.clocks())?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, |t| t.clocks())?;
    random::random::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;

    cli::exit::add_to_linker::<T, WasiCli>(l, |t| t.cli())?;
    cli::environment::add_to_linker::<T, WasiCli>(l, |t| t.cli())?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, |t| t.cli())?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, |t| t.cli())?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, |t| t.cli())?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, |t| t.cli())?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, |t| t.cli())?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, |t| t.cli())?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, |t| t.cli())?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, |t| t.cli())?;

    // The filesystem is linked so std's start-up can ask for preopens and get
    // an empty list; with no directory there is nothing to open.
    filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, |t| t.filesystem())?;
    sync::filesystem::types::add_to_linker::<T, WasiFilesystem>(l, |t| t.filesystem())?;
    Ok(())
}
