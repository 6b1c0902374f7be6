//! Queues between processes, after Python's `multiprocessing.queues`: [`Queue`],
//! [`SimpleQueue`] and [`JoinableQueue`], on a ring in shared memory.
//!
//! # Which queue to choose
//!
//! | You need | Take | Python's |
//! |---|---|---|
//! | many producers and consumers, a size limit, timeouts, non-blocking forms | [`Queue`] | `Queue` |
//! | `put` and `get`, nothing more | [`SimpleQueue`] | `SimpleQueue` |
//! | to wait until every item put has been processed | [`JoinableQueue`] | `JoinableQueue` |
//! | two processes talking both ways, a CPython peer, or handles inside the messages | a `Connection` | `Pipe` |
//!
//! All three queues are the same ring in shared memory: any number of processes, and threads
//! in them, put and get at once; each producer's items arrive in its order; handles pass to
//! children as `Process` arguments under every start method.
//!
//! **[`Queue`]**, the general one. Here two children produce, and the parent reads until the
//! queue is empty and no other handle is left (crossbeam's `Disconnected`; Python would block):
//!
//! ```
//! use multiprocessing_process::spawn;
//! use multiprocessing_queues::Queue;
//!
//! fn produce(q: Queue<u32>, first: u32) {
//!     for i in first..first + 3 {
//!         q.put(i).unwrap();
//!     }
//! }
//!
//! let q = Queue::new()?;
//! let children = [spawn(produce, (q.clone(), 0))?, spawn(produce, (q.clone(), 10))?];
//! for child in children {
//!     child.join()?; // a child that put items exits once they are in shared memory
//! }
//! let mut got: Vec<u32> = q.iter().collect(); // ends once empty, and alone
//! got.sort();
//! assert_eq!(got, [0, 1, 2, 10, 11, 12]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With a `maxsize`, `put` waits for room; the timed and non-blocking forms hand the value
//! back when they cannot put it:
//!
//! ```
//! use std::time::Duration;
//! use multiprocessing_queues::{GetTimeoutError, PutTimeoutError, Queue, TryPutError};
//!
//! let q = Queue::with_maxsize(1)?;
//! let producer = q.clone(); // the handle another process or thread would hold
//! producer.put(1)?;
//! assert!(q.full());
//! assert_eq!(producer.try_put(2), Err(TryPutError::Full(2)));
//! let late = producer.put_timeout(3, Duration::from_millis(10));
//! assert_eq!(late, Err(PutTimeoutError::Timeout(3)));
//! assert_eq!(q.get()?, 1);
//! let nothing = q.get_timeout(Duration::from_millis(10));
//! assert_eq!(nothing, Err(GetTimeoutError::Timeout)); // the producer could still put
//! drop(producer);
//! // Alone with an empty queue, a get says so at once (Python would wait for ever).
//! let alone = q.get_timeout(Duration::from_secs(10));
//! assert_eq!(alone, Err(GetTimeoutError::Disconnected));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **[`SimpleQueue`]**: `put`, `get`, `empty` and `close`, where Python code used
//! `SimpleQueue`. Same transport and speed; the smaller API says what the code needs.
//!
//! ```
//! use multiprocessing_process::spawn;
//! use multiprocessing_queues::SimpleQueue;
//!
//! fn greet(q: SimpleQueue<String>) {
//!     q.put(format!("hello from {}", std::process::id())).unwrap();
//! }
//!
//! let q = SimpleQueue::new()?;
//! let child = spawn(greet, (q.clone(),))?;
//! assert!(q.get()?.starts_with("hello from "));
//! assert!(q.empty());
//! child.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **[`JoinableQueue`]**: a `Queue` that counts unfinished tasks; consumers call
//! [`task_done`](JoinableQueue::task_done) per item, and [`join`](JoinableQueue::join) waits
//! until none is left (or [`join_timeout`](JoinableQueue::join_timeout), beyond Python):
//!
//! ```
//! use multiprocessing_process::spawn;
//! use multiprocessing_queues::{JoinableQueue, Queue};
//!
//! fn worker(tasks: JoinableQueue<u32>, results: Queue<u32>) {
//!     // Ends when the queue is empty and the parent's handle is gone.
//!     while let Ok(n) = tasks.get() {
//!         results.put(n * n).unwrap();
//!         tasks.task_done().unwrap();
//!     }
//! }
//!
//! let (tasks, results) = (JoinableQueue::new()?, Queue::new()?);
//! let child = spawn(worker, (tasks.clone(), results.clone()))?;
//! for n in 1..=4 {
//!     tasks.put(n)?;
//! }
//! tasks.join(); // every item put has been marked done
//! assert_eq!(results.try_iter().sum::<u32>(), 1 + 4 + 9 + 16);
//! drop(tasks);
//! child.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **A `Connection`** (`multiprocessing::pipe`, Python's `Pipe`), not a queue, for two
//! processes talking both ways, for a peer outside this family (CPython speaks its protocol),
//! or to send handles inside messages: queue handles carry file descriptors, so they travel as
//! `Process` arguments or over a `Connection`, never inside another queue's items.
//!
//! ```
//! use multiprocessing_connection::{Connection, pipe};
//! use multiprocessing_process::spawn;
//!
//! fn shout(mut conn: Connection) {
//!     let word: String = conn.recv().unwrap();
//!     conn.send(&word.to_uppercase()).unwrap();
//! }
//!
//! let (mut ours, theirs) = pipe(true)?;
//! let child = spawn(shout, (theirs,))?;
//! ours.send("ping")?;
//! assert_eq!(ours.recv::<String>()?, "PING");
//! child.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # From async code
//!
//! [`Queue::get_async`] and [`Queue::put_async`] (flume's `recv_async` / `send_async`; with
//! `_timeout` forms), the same on [`SimpleQueue`], and [`JoinableQueue::join_async`] are the
//! blocking calls as futures on any executor, with the same results and errors. No future
//! blocks its executor's thread on a futex, and no future has a thread of its own: the futures
//! waiting on one queue share one waiter thread (`multiprocessing_core::futex_async`). They are
//! cancel-safe: an item is taken, or put, only in the poll that returns it, so a dropped
//! `get_async` loses no item and a dropped `put_async` did not put its item.
//!
//! ```
//! use std::time::Duration;
//! use multiprocessing_queues::Queue;
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
//! rt.block_on(async {
//!     let q = Queue::with_maxsize(1)?;
//!     let producer = std::thread::spawn({
//!         let q = q.clone();
//!         move || q.put(7u32) // a blocking producer (or another process)
//!     });
//!     assert_eq!(q.get_async().await?, 7);
//!     producer.join().unwrap()?;
//!     // Another handle could still put: a get cut short takes nothing.
//!     let _other = q.clone();
//!     assert!(tokio::time::timeout(Duration::from_millis(5), q.get_async()).await.is_err());
//!     // Alone with an empty queue, the same error as the blocking `get`.
//!     drop(_other);
//!     assert!(q.get_async().await.is_err());
//!     q.put_async(8).await?;
//!     assert_eq!(q.get()?, 8);
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What differs from Python, on purpose
//!
//! - `put` encodes the value in the caller, so a value that cannot be encoded is an error
//!   *from `put`*, with the value handed back (CPython's feeder thread loses it, gh-84376).
//! - `put` writes the item into shared memory itself whenever the ring has room (the ring is
//!   32 MiB of address space by default: memory backs its first 4 MiB once used, and beyond
//!   them only what a burst of items fills, given back once read), with no thread and no
//!   extra copy. An unbounded queue's `put` still returns at once when the ring is full: the
//!   item waits in the process's outbox, which a feeder thread (Python's) writes as room
//!   appears, and later puts follow it there in order; `join_thread` waits for the outbox.
//! - The "joining processes that use queues" deadlock of Python's programming guidelines does
//!   not happen: an exiting process waits for its outbox only while readers make progress,
//!   and after a few seconds without any drops the rest, counting it in [`Queue::lost`] and
//!   reporting it through `tracing` (at once after `cancel_join_thread`, as in Python).
//! - A `get` on an empty queue whose every other handle, in every process, is gone fails with
//!   `Disconnected` instead of blocking forever.
//! - A process killed in the middle of a `put` or `get` never corrupts the queue for the
//!   others, and no lock is left held by a dead process (see "Faults" below).
//! - [`JoinableQueue::join_timeout`] beside `join`; an item lost to a killed process counts
//!   as done, so `join` does not wait for it.
//! - The non-blocking forms never block: `try_put` and `try_get` wait a millisecond at most
//!   for a peer holding their side of the ring.
//! - Errors are per operation in crossbeam's shape ([`TryPutError::Full`] hands the value
//!   back, [`GetTimeoutError::Timeout`], ...), each with a [`kind()`](ErrorKind).
//!
//! # Design
//!
//! The transport is a **byte ring with length-prefixed records** in one heap block (the
//! core's [`HeapBlock`](multiprocessing_core::heap::HeapBlock): shared by file descriptor,
//! reference-counted across processes, nameless, so nothing is left in `/dev/shm` when
//! processes are killed). A ring of fixed-size slots (Vyukov's bounded MPMC queue) was the
//! alternative: it lets producers and consumers proceed in parallel on different slots, but
//! every item then costs a whole slot, items larger than a slot need a second mechanism, and a
//! process killed between claiming a slot and filling it stalls everyone behind that slot until
//! someone proves it dead. With a byte ring, small items cost their size, items of any size
//! use the same path (chunked under the writer's turn when larger than a quarter of the ring),
//! and a fault has exactly one place to be repaired: the side's lock. Producers serialize on a
//! write lock and consumers on a read lock, so a producer and a consumer never wait for each
//! other, and each side's critical section is one copy.
//!
//! The locks are the synchronize crate's robust [`Lock`](multiprocessing_synchronize::Lock):
//! its next taker recovers it from a dead owner. The ring is built so that this recovery needs
//! no repair: a record becomes visible only when whole (one store of the tail word, which also
//! counts the item), and a consumer moves the head only after copying the record out, so an
//! item is either in the queue whole, or in one consumer's hands. Waiting uses futexes on
//! words of the ring's header, after a short spin when another CPU can answer; nobody sleeps
//! longer than 100 ms without checking for dead peers.
//!
//! Who holds handles is counted per process in a table in the ring's header (process id and
//! start time, so pid reuse cannot fool it), plus a count of handles travelling in messages or
//! inherited by a forked child; a process found dead has its count reclaimed. That is how a
//! consumer knows it is alone ([`GetError::Disconnected`]).
//!
//! # Faults
//!
//! - A producer killed mid-`put` leaves no half item: a small item is published by one store;
//!   a chunked one is dropped by the consumer that meets it (counted in [`Queue::lost`]).
//!   Items it still held in its outbox are counted there once it is found dead.
//! - A consumer killed mid-`get` leaves its item whole for the next consumer, unless the item
//!   had already been decoded or copied out (the head moves only then: it was in its hands)
//!   or it was a chunked item partly read (counted in [`Queue::lost`]).
//! - A lost item counts as done for [`JoinableQueue::join`].
//! - Nothing a dead process held blocks the others for more than about 100 ms.

mod channel;
pub mod error;
mod feeder;
mod handle;
mod joinable;
mod queue;
mod simple;
mod wait;

pub use error::{
    Error, ErrorKind, GetError, GetTimeoutError, PutError, PutTimeoutError, Result, TryGetError,
    TryPutError,
};
pub use joinable::JoinableQueue;
/// The error of [`JoinableQueue::join_timeout`], the workspace's one timed-wait expiry.
pub use multiprocessing_core::time::TimedOut;
pub use queue::{Iter, Queue, QueueBuilder, TryIter};
pub use simple::SimpleQueue;
