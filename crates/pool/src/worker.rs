//! The worker side: the messages between the parent and a worker, the trampolines that run a
//! task's items, and the worker's loop.
//!
//! A task is a chunk of items for one target. It crosses as a [`CodeWire`] naming the
//! monomorphized trampoline for that target (checked by the worker before anything is called)
//! and the chunk's encoded arguments. The worker acknowledges a task with its pid before
//! running it, so the parent knows exactly which task a worker that dies was running.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use multiprocessing_connection::Connection;
use multiprocessing_core::code::{CodeRef, CodeWire};
use multiprocessing_core::outcome::{Outcome, PanicInfo};
use multiprocessing_core::{code, codec, identity};
use multiprocessing_process::Target;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A task's entry: decodes the chunk's arguments, runs each item, encodes the outcomes.
/// `Err` carries a codec failure's message (arguments undecodable, a result unencodable).
/// An initializer's entry has this shape, so a worker runs it as a task.
pub(crate) type TaskFn = multiprocessing_process::InitEntry;

/// Parent to worker.
#[derive(Serialize, Deserialize)]
pub(crate) enum ToWorker<A> {
    /// Run these tasks of one target, in order, after those already sent: each is
    /// acknowledged before it runs (`Ack`, or `DoneAck` with the previous one's reply) and
    /// answered after (`Done`). Several in one message: one write for a window of small tasks.
    Tasks {
        code: CodeWire,
        tasks: Vec<(u64, A)>,
    },
    /// Exit once idle (`close`, `maxtasksperchild`).
    Stop,
}

/// Bytes inside a message, encoded as one byte string (serde would otherwise visit a
/// `Vec<u8>` byte by byte).
pub(crate) type Bytes = serde_bytes::ByteBuf;

/// The sending side's [`Bytes`], borrowed.
pub(crate) type BytesRef<'a> = &'a serde_bytes::Bytes;

/// Worker to parent.
#[derive(Serialize, Deserialize)]
pub(crate) enum FromWorker {
    /// The initializer ran: the worker takes tasks.
    Ready,
    /// The worker took task `id` and is about to run it.
    Ack { id: u64, pid: u32 },
    /// Task `id` ended, after running for `micros` microseconds.
    Done { id: u64, reply: Reply, micros: u64 },
    /// Task `id` ended, and the worker took task `next` (already sent to it) and is about to
    /// run it: `Done` and `Ack` in one message.
    DoneAck {
        id: u64,
        reply: Reply,
        micros: u64,
        next: u64,
        pid: u32,
    },
    /// The initializer panicked (or was refused); the worker exits.
    InitFailed(PanicInfo),
}

/// How a task ended in the worker, as it travels back to the pool.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// The encoded `Outcome<Vec<R>>`: the chunk's results, or its first panic.
    Ok(Bytes),
    /// The arguments could not be decoded or a result encoded.
    Codec(String),
    /// The code reference was refused; nothing ran.
    Refused(String),
    /// The trampoline itself panicked (a `Serialize` implementation, say).
    Panicked(PanicInfo),
}

/// Room reserved for an encoding at most (a guess from the items' count and size).
const RESERVE_MAX: usize = 4 << 20;

/// Encodes a chunk's outcome into a buffer reserved for `len` values of `R` (growing it by
/// doubling copies a large chunk's results several times).
fn encode_outcome<R: Serialize>(outcome: &Outcome<Vec<R>>, len: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity((len * (size_of::<R>() + 1) + 16).min(RESERVE_MAX));
    codec::encode_into(outcome, &mut out)
        .map_err(|e| format!("could not encode the result: {e}"))?;
    Ok(out)
}

/// Sends `msg` as one message, encoded once into a buffer of `reserve` bytes (a window of
/// tasks or a large reply is then not regrown and copied on the way).
pub(crate) fn send_reserved<T: Serialize>(
    conn: &mut Connection,
    msg: &T,
    reserve: usize,
) -> Result<(), multiprocessing_connection::Error> {
    let mut buf = Vec::with_capacity(reserve.min(RESERVE_MAX));
    codec::encode_into(msg, &mut buf)?;
    conn.send_bytes(&buf)
}

/// The trampoline of target `F` over a chunk of `Args`: the chunk's results, or the first
/// panic among its items (Python's worker, too, answers a chunk with its results or the first
/// exception).
pub(crate) fn chunk_trampoline<F, Args>(input: Vec<u8>) -> Result<Vec<u8>, String>
where
    F: Target<Args>,
    Args: DeserializeOwned,
    F::Output: Serialize,
{
    let items: Vec<Args> =
        codec::decode(&input).map_err(|e| format!("could not decode the arguments: {e}"))?;
    let len = items.len();
    // SAFETY: F is the target type this trampoline was instantiated for, reached through a
    // checked code reference made in a process of this executable that held a value of F.
    let f = unsafe { code::conjure::<F>() };
    let outcome: Outcome<Vec<F::Output>> =
        Outcome::catch(|| items.into_iter().map(|args| f.call(args)).collect());
    encode_outcome(&outcome, len)
}

/// The trampoline of a one-argument target `F(A)` over a chunk of plain `A`s (`map`,
/// `imap`): as [`chunk_trampoline`] over `(A,)`s, without a tuple around each item on the wire.
pub(crate) fn map_trampoline<F, A>(input: Vec<u8>) -> Result<Vec<u8>, String>
where
    F: Target<(A,)>,
    A: DeserializeOwned,
    F::Output: Serialize,
{
    let items: Vec<A> =
        codec::decode(&input).map_err(|e| format!("could not decode the arguments: {e}"))?;
    let len = items.len();
    // SAFETY: F is the target type this trampoline was instantiated for, reached through a
    // checked code reference made in a process of this executable that held a value of F.
    let f = unsafe { code::conjure::<F>() };
    let outcome: Outcome<Vec<F::Output>> =
        Outcome::catch(|| items.into_iter().map(|a| f.call((a,))).collect());
    encode_outcome(&outcome, len)
}

/// The checked code reference of a trampoline, signed with this process's authkey.
pub(crate) fn wire(f: TaskFn) -> CodeWire {
    CodeRef::new(f).to_wire(&identity::current().authkey)
}

/// Runs `code(input)`, checking the reference first and catching a panic.
fn call(code: &CodeWire, input: Vec<u8>) -> Reply {
    match code.resolve::<TaskFn>(&identity::current().authkey) {
        Ok(f) => run(f.get(), input),
        Err(e) => Reply::Refused(e.to_string()),
    }
}

/// Runs a verified entry, catching a panic.
fn run(f: TaskFn, input: Vec<u8>) -> Reply {
    match Outcome::catch(|| f(input)) {
        Outcome::Returned(Ok(bytes)) => Reply::Ok(Bytes::from(bytes)),
        Outcome::Returned(Err(message)) => Reply::Codec(message),
        Outcome::Panicked(p) => Reply::Panicked(p),
    }
}

/// A worker process's target: runs the initializer, then tasks until `Stop` or until the
/// parent hangs up.
pub(crate) fn worker_main(mut conn: Connection, init: Option<(CodeWire, Vec<u8>)>) {
    // Ctrl-C reaches the whole foreground group; the parent decides what the pool does.
    // SAFETY: setting a signal's disposition to "ignore" installs no handler code.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    if let Some((code, args)) = init {
        let failure = match call(&code, args) {
            Reply::Ok(_) => None,
            Reply::Codec(m) | Reply::Refused(m) => Some(PanicInfo::new(m, None)),
            Reply::Panicked(p) => Some(p),
        };
        if let Some(panic) = failure {
            let _ = conn.send(&FromWorker::InitFailed(panic));
            return;
        }
    }
    if conn.send(&FromWorker::Ready).is_err() {
        return;
    }
    // A daemonic worker dies with the parent process (the process crate arms that), so a
    // blocking receive cannot outlive the pool's owner.
    let pid = std::process::id();
    let mut runner = TaskRunner::new();
    // Tasks received and not yet run, each with its target's reference.
    let mut queue: VecDeque<(u64, Rc<CodeWire>, Vec<u8>)> = VecDeque::new();
    // The front task was acknowledged already (with the previous one's reply).
    let mut acked = false;
    // `Stop` arrived: exit once the queue is run.
    let mut stopping = false;
    loop {
        if queue.is_empty() {
            if stopping || !receive(&mut conn, &mut queue, &mut stopping) {
                return;
            }
            continue;
        }
        let Some((id, code, args)) = queue.pop_front() else {
            continue;
        };
        if !acked && conn.send(&FromWorker::Ack { id, pid }).is_err() {
            return;
        }
        let began = Instant::now();
        let reply = runner.run(&code, args);
        let micros = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
        // More tasks may have arrived while this one ran: if one is here, one message
        // answers this task and acknowledges that one, before it runs.
        let mut hung_up = false;
        if queue.is_empty() && !stopping && matches!(conn.poll(Some(Duration::ZERO)), Ok(true)) {
            hung_up = !receive(&mut conn, &mut queue, &mut stopping);
        }
        let answer = match queue.front() {
            Some(&(next, ..)) => FromWorker::DoneAck {
                id,
                reply,
                micros,
                next,
                pid,
            },
            None => FromWorker::Done { id, reply, micros },
        };
        acked = queue.front().is_some();
        let reserve = match &answer {
            FromWorker::Done {
                reply: Reply::Ok(bytes),
                ..
            }
            | FromWorker::DoneAck {
                reply: Reply::Ok(bytes),
                ..
            } => bytes.len() + 64,
            _ => 256,
        };
        if send_reserved(&mut conn, &answer, reserve).is_err() || hung_up {
            return;
        }
    }
}

/// Receives one message into `queue` (or sets `stopping`); `false` when the parent hung up.
fn receive(
    conn: &mut Connection,
    queue: &mut VecDeque<(u64, Rc<CodeWire>, Vec<u8>)>,
    stopping: &mut bool,
) -> bool {
    match conn.recv::<ToWorker<Bytes>>() {
        Ok(ToWorker::Tasks { code, tasks }) => {
            let code = Rc::new(code);
            queue.extend(
                tasks
                    .into_iter()
                    .map(|(id, args)| (id, Rc::clone(&code), args.into_vec())),
            );
            true
        }
        Ok(ToWorker::Stop) => {
            *stopping = true;
            true
        }
        Err(_) => false,
    }
}

/// Runs tasks in a worker: checks each task's code reference (the executable's fingerprint, the
/// tag under this process's authkey, the address) before anything is called, and catches a
/// panic. A reference checked once is remembered byte for byte, so the tasks of one call are
/// checked once.
#[derive(Default)]
pub struct TaskRunner {
    verified: Option<(CodeWire, TaskFn)>,
}

impl std::fmt::Debug for TaskRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRunner").finish_non_exhaustive()
    }
}

impl TaskRunner {
    /// A runner that has checked nothing yet.
    #[must_use]
    pub fn new() -> TaskRunner {
        TaskRunner::default()
    }

    /// Checks `code` and runs it over `args`: the task's results or first panic
    /// ([`Reply::Ok`]), or why it did not run.
    pub fn run(&mut self, code: &CodeWire, args: Vec<u8>) -> Reply {
        call_cached(&mut self.verified, code, args)
    }
}

/// [`call`], verifying a code reference once: the same reference again (byte for byte) is
/// the same function.
fn call_cached(verified: &mut Option<(CodeWire, TaskFn)>, code: &CodeWire, args: Vec<u8>) -> Reply {
    if let Some((wire, f)) = verified
        && wire == code
    {
        return run(*f, args);
    }
    match code.resolve::<TaskFn>(&identity::current().authkey) {
        Ok(f) => {
            let f = f.get();
            *verified = Some((code.clone(), f));
            run(f, args)
        }
        Err(e) => Reply::Refused(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use multiprocessing_core::AuthKey;

    use super::*;

    fn check(x: u32) -> u32 {
        assert!(x != 2, "two is refused");
        x * 2
    }

    /// The trampoline of `f` over one-argument items.
    fn trampoline_of<F, A>(_: F) -> TaskFn
    where
        F: Target<(A,)>,
        A: DeserializeOwned,
        F::Output: Serialize,
    {
        chunk_trampoline::<F, (A,)>
    }

    #[test]
    #[cfg_attr(miri, ignore = "finds this executable's build-id through getauxval")]
    fn a_chunk_answers_its_results_or_its_first_panic() {
        let code = wire(trampoline_of(check));
        let args = codec::encode(&vec![(1u32,), (2,), (3,)]).unwrap();
        let bytes = match call(&code, args) {
            Reply::Ok(bytes) => bytes.into_vec(),
            Reply::Codec(m) | Reply::Refused(m) => panic!("the chunk did not run: {m}"),
            Reply::Panicked(p) => panic!("the chunk did not run: {p}"),
        };
        let outcome: Outcome<Vec<u32>> = codec::decode(&bytes).unwrap();
        assert!(matches!(&outcome, Outcome::Panicked(p) if p.message == "two is refused"));
        let args = codec::encode(&vec![(1u32,), (3,)]).unwrap();
        let Reply::Ok(bytes) = call(&code, args) else {
            panic!("the chunk did not run")
        };
        let outcome: Outcome<Vec<u32>> = codec::decode(&bytes).unwrap();
        assert_eq!(outcome, Outcome::Returned(vec![2, 6]));
        // Arguments of another type are a codec error, not a call.
        let wrong = codec::encode(&vec![("text".to_string(),)]).unwrap();
        assert!(matches!(call(&code, wrong), Reply::Codec(_)));
    }

    #[test]
    #[cfg_attr(miri, ignore = "finds this executable's build-id through getauxval")]
    fn a_task_signed_under_another_key_or_by_another_executable_is_refused() {
        let args = codec::encode(&vec![(1u32,)]).unwrap();
        let stranger = AuthKey::new(b"not the family".to_vec());
        let forged = CodeRef::new(trampoline_of(check)).to_wire(&stranger);
        assert!(matches!(call(&forged, args.clone()), Reply::Refused(_)));
        let foreign = CodeWire {
            fingerprint: b"build-id:0000".to_vec(),
            ..wire(trampoline_of(check))
        };
        assert!(matches!(call(&foreign, args.clone()), Reply::Refused(_)));
        // A verified reference is remembered byte for byte: a forged one is still checked.
        let mut verified = None;
        let good = wire(trampoline_of(check));
        assert!(matches!(
            call_cached(&mut verified, &good, args.clone()),
            Reply::Ok(_)
        ));
        assert!(matches!(
            call_cached(&mut verified, &good, args.clone()),
            Reply::Ok(_)
        ));
        assert!(matches!(
            call_cached(&mut verified, &forged, args),
            Reply::Refused(_)
        ));
    }
}
