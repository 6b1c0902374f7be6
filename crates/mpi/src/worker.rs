//! A worker rank: says where it runs and what executable it runs, takes the family's authkey
//! if rank 0 accepts it, then runs tasks until told to stop.

use std::collections::VecDeque;

use mpi::topology::{Rank, SimpleCommunicator};
use multiprocessing_core::code::{CodeWire, display_fingerprint, fingerprint};
use multiprocessing_core::{AuthKey, identity};
use multiprocessing_pool::remote::TaskRunner;

use crate::wire::{Bytes, FromWorker, Poller, ToWorker, send_blocking, try_receive};

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
                Ok(ToWorker::Welcome { authkey }) => {
                    identity::set_authkey(AuthKey::new(authkey.into_vec()));
                    welcomed = true;
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
