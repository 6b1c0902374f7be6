//! A worker rank: says where it runs and what executable it runs, takes the family's authkey
//! if rank 0 accepts it, then runs tasks until told to stop.
//!
//! A worker spawned with `MPI_Comm_spawn` is this executable started with [`WORKER_ARG`]: a
//! constructor takes the worker role before `main`, so a spawned worker never runs the
//! program's `main` (the process crate's spawned children do the same). Life before `main` is
//! handled as there: SIGPIPE ignored as std would, a panic caught, stdout flushed before exit.

use std::collections::VecDeque;

use mpi::topology::{Communicator, Rank, SimpleCommunicator};
use multiprocessing_core::code::{CodeWire, display_fingerprint, fingerprint};
use multiprocessing_core::outcome::PanicInfo;
use multiprocessing_core::{AuthKey, identity};
use multiprocessing_pool::remote::{TaskReply, TaskRunner};

use crate::wire::{Bytes, FromWorker, Poller, ToWorker, send_blocking, try_receive};

/// The argument a spawned worker is started with.
pub(crate) const WORKER_ARG: &str = "--multiprocessing-mpi-worker";

/// Whether this process was started as a spawned worker: its first argument is [`WORKER_ARG`]
/// (read from `/proc/self/cmdline`, which needs nothing of std's start-up).
fn started_as_worker() -> bool {
    let Ok(cmdline) = std::fs::read("/proc/self/cmdline") else {
        return false;
    };
    cmdline.split(|&b| b == 0).nth(1) == Some(WORKER_ARG.as_bytes())
}

#[ctor::ctor(unsafe)]
fn spawned_worker_entry() {
    if !started_as_worker() {
        return;
    }
    // SAFETY: setting a signal disposition to SIG_IGN is what std's runtime does before main.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let code = std::panic::catch_unwind(spawned_worker).unwrap_or(1);
    let _ = std::panic::catch_unwind(|| {
        multiprocessing_core::exit::run();
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
    });
    std::process::exit(code)
}

/// A spawned worker's life: MPI up, serve the parent's pool, MPI down; its exit code.
fn spawned_worker() -> i32 {
    let Some((universe, _)) = mpi::initialize_with_threading(mpi::Threading::Funneled) else {
        eprintln!("multiprocessing-mpi: MPI was initialized before a spawned worker started");
        return 1;
    };
    let host = mpi::environment::processor_name().unwrap_or_else(|_| "?".into());
    let Some(parent) = universe.world().parent() else {
        eprintln!(
            "multiprocessing-mpi: started with {WORKER_ARG} but not by MPI_Comm_spawn; \
             nothing to serve"
        );
        return 1;
    };
    let comm = parent.merge(mpi::topology::MergeOrder::High);
    let code = serve(&comm, comm.rank(), host);
    // The merged communicator goes first; the universe then disconnects from the parent and
    // finalizes MPI, as the parent's side does.
    drop(comm);
    drop(universe);
    code
}

/// Rank 0 of the pool's communicator.
pub(crate) const MASTER: Rank = 0;

/// Serves the pool as rank `rank` of `comm`; the process's exit code.
pub(crate) fn serve(comm: &SimpleCommunicator, rank: Rank, host: String) -> i32 {
    multiprocessing_core::outcome::install_hook();
    identity::set_name(format!("MpiWorker-{rank}"));
    let hello = FromWorker::Hello {
        host,
        pid: std::process::id(),
        fingerprint: Bytes::from(fingerprint().to_vec()),
    };
    send_blocking(comm, MASTER, &hello);
    let mut runner = TaskRunner::new();
    let mut queue: VecDeque<(u64, std::rc::Rc<CodeWire>, Vec<u8>)> = VecDeque::new();
    let mut stopping = false;
    let mut welcomed = false;
    let mut poller = Poller::new();
    loop {
        // Take whatever arrived (the next tasks come while one runs).
        while let Some((_, msg)) = try_receive::<ToWorker>(comm, Some(MASTER)) {
            poller.reset();
            match msg {
                Ok(ToWorker::Welcome { authkey, init }) => {
                    identity::set_authkey(AuthKey::new(authkey.into_vec()));
                    // Checked and run under the family's key, now ours.
                    let failure =
                        init.and_then(|(code, args)| match runner.run(&code, args.into_vec()) {
                            TaskReply::Ok(_) => None,
                            TaskReply::Codec(m) | TaskReply::Refused(m) => {
                                Some(PanicInfo::new(m, None))
                            }
                            TaskReply::Panicked(p) => Some(p),
                        });
                    welcomed = failure.is_none();
                    let answer = match failure {
                        None => FromWorker::Ready,
                        Some(panic) => FromWorker::InitFailed(panic),
                    };
                    send_blocking(comm, MASTER, &answer);
                }
                Ok(ToWorker::Reject { reason }) => {
                    eprintln!(
                        "MpiWorker-{rank}: refused by rank 0: {reason} (this executable: {})",
                        display_fingerprint(fingerprint())
                    );
                    return 1;
                }
                Ok(ToWorker::Tasks { code, tasks }) if welcomed => {
                    let code = std::rc::Rc::new(code);
                    queue.extend(
                        tasks
                            .into_iter()
                            .map(|(id, args)| (id, std::rc::Rc::clone(&code), args.into_vec())),
                    );
                }
                Ok(ToWorker::Stop) => stopping = true,
                Ok(ToWorker::Tasks { .. }) | Err(_) => {
                    eprintln!("MpiWorker-{rank}: a message rank 0 cannot have sent");
                    return 1;
                }
            }
        }
        if let Some((id, code, args)) = queue.pop_front() {
            let reply = runner.run(&code, args);
            send_blocking(comm, MASTER, &FromWorker::Done { id, reply });
            poller.reset();
            continue;
        }
        if stopping {
            return 0;
        }
        poller.idle();
    }
}
