//! Queues between processes, after Python's `multiprocessing.queues`: [`Queue`],
//! [`SimpleQueue`] and [`JoinableQueue`], on a ring in shared memory.
//!
//! # Which queue to choose
//!
//! - [`Queue`]: the general one. Many producers and many consumers, in any processes and
//!   threads; optional `maxsize`; blocking, timed ([`put_timeout`](Queue::put_timeout),
//!   [`get_timeout`](Queue::get_timeout)) and non-blocking ([`try_put`](Queue::try_put),
//!   [`try_get`](Queue::try_get)) forms; iterators.
//! - [`SimpleQueue`]: `put`, `get`, `empty`, `close` and nothing else, where Python code used
//!   `SimpleQueue`. Same transport and speed.
//! - [`JoinableQueue`]: a `Queue` that also counts unfinished tasks, so a producer can
//!   [`join`](JoinableQueue::join) until consumers called
//!   [`task_done`](JoinableQueue::task_done) for every item.
//! - Two processes talking both ways, or a process outside this family (CPython): a
//!   `Connection` (`multiprocessing::pipe`), not a queue.
//!
//! ```
//! use multiprocessing_queues::Queue;
//!
//! let q = Queue::new().unwrap();
//! let producer = q.clone(); // give this one to another process or thread
//! std::thread::spawn(move || {
//!     for i in 0..3 {
//!         producer.put(i).unwrap();
//!     }
//! }); // the producer's handle is dropped when the thread ends
//! let got: Vec<i32> = q.iter().collect(); // ends once empty and every other handle is gone
//! assert_eq!(got, [0, 1, 2]);
//! ```
//!
//! # What differs from Python, on purpose
//!
//! - `put` encodes the value in the caller, so a value that cannot be encoded is an error
//!   *from `put`*, with the value handed back (CPython's feeder thread loses it, gh-84376).
//! - There is no feeder thread: `put` writes the item into shared memory before it returns.
//!   An unbounded queue's `put` still returns at once (the ring is 32 MiB of address space by
//!   default: memory backs its first 4 MiB once used, and beyond them only what a burst of
//!   items fills, given back once read), nothing is left to flush when a process
//!   exits, so `join_thread` and `cancel_join_thread` have nothing to do, and the "joining
//!   processes that use queues" deadlock of Python's programming guidelines cannot happen: a
//!   child that put more than anyone read exits at once, and its items stay in the queue.
//! - A `get` on an empty queue whose every other handle, in every process, is gone fails with
//!   `Disconnected` instead of blocking forever.
//! - A process killed in the middle of a `put` or `get` never corrupts the queue for the
//!   others, and no lock is left held by a dead process (see "Faults" below).
//! - [`JoinableQueue::join_timeout`] beside `join`.
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
//! - A consumer killed mid-`get` leaves its item whole for the next consumer, unless the item
//!   had already been copied out (it was in its hands) or it was a chunked item partly read
//!   (counted in [`Queue::lost`]).
//! - Nothing a dead process held blocks the others for more than about 100 ms.
//!
//! Handles carry file descriptors, so they travel as `Process` arguments (every start method)
//! or over a `Connection`, not inside another queue's items.

mod channel;
pub mod error;
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
pub use queue::{Iter, Queue, QueueBuilder, TryIter};
pub use simple::SimpleQueue;
