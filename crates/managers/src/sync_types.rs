//! The synchronization and queue types of a [`SyncManager`](crate::SyncManager), as they live
//! in the server: `Queue`, `JoinableQueue`, `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`,
//! `Condition`, `Event`, `Barrier` and `Array`, with Python's method names.
//!
//! A call that has to wait (a held lock's `acquire`, an empty queue's `get`) answers
//! [`Outcome::Wait`]: the server goes on serving everyone else, and the waiting future takes
//! the lock or the item only in the poll that finishes it. If its caller hangs up first the
//! future is dropped, leaves the queue of waiters, and hands any wake-up it had received to the
//! next waiter, so a dead waiter never takes anything.
//!
//! Beyond Python: a `Lock` or `RLock` held by a client whose process dies (its session ends) is
//! released and the next waiter gets it; Python's manager keeps it locked for ever.
//!
//! ```
//! use multiprocessing_managers::sync_types::Lock;
//! use multiprocessing_managers::{Caller, Object, Outcome, Shared};
//! let mut lock = Lock::new(false);
//! let (a, b) = (Caller::new(1, 1), Caller::new(2, 1));
//! let acquire = vec![Object::Bool(false), Object::None]; // block=False
//! assert!(matches!(lock.call("acquire", acquire.clone(), a), Ok(Outcome::Return(Object::Bool(true)))));
//! assert!(matches!(lock.call("acquire", acquire.clone(), b), Ok(Outcome::Return(Object::Bool(false)))));
//! // The holder's process is gone: the lock is free again.
//! lock.client_gone(1);
//! assert!(matches!(lock.call("acquire", acquire, b), Ok(Outcome::Return(Object::Bool(true)))));
//! ```

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::object::Object;
use crate::protocol::{Exception, Raised};
use crate::shared::{Caller, Outcome, Registry, Shared, collect_references};
use crate::types::{List, no_method, ret, type_error};

/// Registers this module's types under Python's names.
pub(crate) fn register(r: &mut Registry) {
    r.register("Queue", make_queue)
        .register("JoinableQueue", make_joinable_queue)
        .register("Lock", make_lock)
        .register("RLock", make_rlock)
        .register("Semaphore", make_semaphore)
        .register("BoundedSemaphore", make_bounded_semaphore)
        .register("Condition", make_condition)
        .register("Event", make_event)
        .register("Barrier", make_barrier)
        .register("Array", make_array);
}

fn value_error(m: impl Into<String>) -> Raised {
    Raised::new(Exception::ValueError, m)
}

fn int_arg(o: Option<&Object>, default: i128) -> Result<i128, Raised> {
    match o {
        None | Some(Object::None) => Ok(default),
        Some(Object::Int(i)) => Ok(*i),
        Some(Object::Bool(b)) => Ok(i128::from(*b)),
        Some(other) => Err(type_error(format!("an integer is required, not {other:?}"))),
    }
}

fn bool_arg(o: Option<&Object>, default: bool) -> Result<bool, Raised> {
    match o {
        None | Some(Object::None) => Ok(default),
        Some(Object::Bool(b)) => Ok(*b),
        Some(Object::Int(i)) => Ok(*i != 0),
        Some(other) => Err(type_error(format!("a bool is required, not {other:?}"))),
    }
}

/// A timeout argument in seconds: `None` (or absent) waits for ever; a negative one is `None`
/// where Python's `acquire` allows `-1`, a `ValueError` elsewhere.
fn timeout_arg(o: Option<&Object>, negative_is_forever: bool) -> Result<Option<Duration>, Raised> {
    let secs = match o {
        None | Some(Object::None) => return Ok(None),
        Some(Object::Int(i)) => *i as f64,
        Some(Object::Float(f)) => *f,
        Some(other) => return Err(type_error(format!("a timeout in seconds, not {other:?}"))),
    };
    if secs < 0.0 {
        return if negative_is_forever {
            Ok(None)
        } else {
            Err(value_error("'timeout' must be a non-negative number"))
        };
    }
    Duration::try_from_secs_f64(secs)
        .map(Some)
        .map_err(|_| value_error("timeout value is too large"))
}

/// The callers waiting on one object, in arrival order, each with the waker of its task.
#[derive(Default)]
pub(crate) struct Waiters {
    next: u64,
    queue: VecDeque<(u64, Waker)>,
}

impl Waiters {
    fn new_id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Records (or refreshes) `id`'s waker; one that was woken and lost the race goes back
    /// to the front.
    fn register(&mut self, id: u64, waker: &Waker, front: bool) {
        if let Some(e) = self.queue.iter_mut().find(|e| e.0 == id) {
            e.1.clone_from(waker);
        } else if front {
            self.queue.push_front((id, waker.clone()));
        } else {
            self.queue.push_back((id, waker.clone()));
        }
    }

    /// Removes `id`; whether it was still queued (not woken).
    fn remove(&mut self, id: u64) -> bool {
        match self.queue.iter().position(|e| e.0 == id) {
            Some(i) => {
                self.queue.remove(i);
                true
            }
            None => false,
        }
    }

    fn wake_one(&mut self) {
        if let Some((_, w)) = self.queue.pop_front() {
            w.wake();
        }
    }

    fn wake_all(&mut self) {
        for (_, w) in self.queue.drain(..) {
            w.wake();
        }
    }

    fn len(&self) -> usize {
        self.queue.len()
    }
}

type Attempt<S> = Box<dyn FnMut(&mut S) -> Option<Result<Object, Raised>>>;
type Expired<S> = Box<dyn FnOnce(&mut S) -> Result<Object, Raised>>;
type Cancel<S> = Box<dyn FnOnce(&mut S)>;

/// One caller's wait on the state `S`: it finishes when `attempt` succeeds (which then makes
/// the change: takes the lock, the item) or when the deadline passes (`expired` gives the
/// answer). Dropped unfinished (its caller hung up), it leaves the queue, passes on a wake-up
/// it had received, and runs `cancel` to undo its registration.
struct Waiting<S: 'static> {
    state: Rc<RefCell<S>>,
    queue: fn(&mut S) -> &mut Waiters,
    id: u64,
    registered: bool,
    done: bool,
    attempt: Attempt<S>,
    deadline: Option<Instant>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    expired: Option<Expired<S>>,
    cancel: Option<Cancel<S>>,
    /// Whether a wake-up received and not used goes to the next waiter.
    pass_on: bool,
}

impl<S: 'static> Waiting<S> {
    fn new(
        state: &Rc<RefCell<S>>,
        queue: fn(&mut S) -> &mut Waiters,
        timeout: Option<Duration>,
        attempt: Attempt<S>,
        expired: Expired<S>,
    ) -> Waiting<S> {
        let id = queue(&mut state.borrow_mut()).new_id();
        Waiting {
            state: state.clone(),
            queue,
            id,
            registered: false,
            done: false,
            attempt,
            // The deadline counts from the call, not from the first poll; one past the end of
            // time is no deadline.
            deadline: timeout.and_then(|t| Instant::now().checked_add(t)),
            sleep: None,
            expired: Some(expired),
            cancel: None,
            pass_on: true,
        }
    }

    fn on_cancel(mut self, cancel: Cancel<S>) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// A condition's wake-up is a notification, which `cancel` passes on itself.
    fn without_pass_on(mut self) -> Self {
        self.pass_on = false;
        self
    }

    /// Leaves the queue; a wake-up already received goes to the next waiter.
    fn leave(&self, s: &mut S) {
        let q = (self.queue)(s);
        if !q.remove(self.id) && self.registered && self.pass_on {
            q.wake_one();
        }
    }
}

impl<S: 'static> Future for Waiting<S> {
    type Output = Result<Object, Raised>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.done {
            return Poll::Pending;
        }
        let state = this.state.clone();
        let mut s = state.borrow_mut();
        if let Some(r) = (this.attempt)(&mut s) {
            (this.queue)(&mut s).remove(this.id);
            this.done = true;
            return Poll::Ready(r);
        }
        if let Some(deadline) = this.deadline {
            let sleep = this.sleep.get_or_insert_with(|| {
                Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
                    deadline,
                )))
            });
            if sleep.as_mut().poll(cx).is_ready() {
                this.leave(&mut s);
                this.done = true;
                let expired = this.expired.take();
                return Poll::Ready(match expired {
                    Some(f) => f(&mut s),
                    None => Ok(Object::None),
                });
            }
        }
        let q = (this.queue)(&mut s);
        q.register(this.id, cx.waker(), this.registered);
        this.registered = true;
        Poll::Pending
    }
}

impl<S: 'static> Drop for Waiting<S> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Ok(mut s) = self.state.try_borrow_mut() {
            self.leave(&mut s);
            if let Some(c) = self.cancel.take() {
                c(&mut s);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lock and RLock

/// The state of a `Lock` or `RLock`, shared with the conditions built over it.
pub(crate) struct LockState {
    recursive: bool,
    owner: Option<Caller>,
    count: u32,
    waiters: Waiters,
}

impl LockState {
    fn waiters(&mut self) -> &mut Waiters {
        &mut self.waiters
    }

    /// Takes the lock for `caller` if it can (again, for an `RLock` it holds).
    fn try_take(&mut self, caller: Caller) -> bool {
        match self.owner {
            None => {
                self.owner = Some(caller);
                self.count = 1;
                true
            }
            Some(o) if self.recursive && o == caller => {
                self.count += 1;
                true
            }
            Some(_) => false,
        }
    }

    fn release(&mut self, caller: Caller) -> Result<(), Raised> {
        match self.owner {
            Some(o) if o == caller => {
                self.count -= 1;
                if self.count == 0 {
                    self.owner = None;
                    self.waiters.wake_one();
                }
                Ok(())
            }
            None if !self.recursive => {
                Err(Raised::new(Exception::NotOwner, "release unlocked lock"))
            }
            _ => Err(Raised::new(
                Exception::NotOwner,
                "cannot release un-acquired lock",
            )),
        }
    }

    /// Releases whatever `session` held.
    fn session_gone(&mut self, session: u64) {
        if self.owner.is_some_and(|o| o.session == session) {
            self.owner = None;
            self.count = 0;
            self.waiters.wake_one();
        }
    }

    fn repr(&self) -> String {
        let state = if self.owner.is_some() {
            "locked"
        } else {
            "unlocked"
        };
        if self.recursive {
            format!("<{state} _thread.RLock object count={}>", self.count)
        } else {
            format!("<{state} _thread.lock object>")
        }
    }
}

/// Waits until `caller` takes the lock, then holds it `count` times; `None` at the deadline.
fn take_lock(
    lock: &Rc<RefCell<LockState>>,
    caller: Caller,
    count: u32,
    timeout: Option<Duration>,
) -> Waiting<LockState> {
    Waiting::new(
        lock,
        LockState::waiters,
        timeout,
        Box::new(move |s: &mut LockState| {
            s.try_take(caller).then(|| {
                s.count = count.max(s.count);
                Ok(Object::Bool(true))
            })
        }),
        Box::new(|_| Ok(Object::Bool(false))),
    )
}

/// Python's `acquire(blocking=True, timeout=-1)` on a lock.
fn acquire_lock(
    lock: &Rc<RefCell<LockState>>,
    args: &[Object],
    caller: Caller,
) -> Result<Outcome, Raised> {
    let block = bool_arg(args.first(), true)?;
    let timeout = timeout_arg(args.get(1), true)?;
    if !block && timeout.is_some() {
        return Err(value_error(
            "can't specify a timeout for a non-blocking call",
        ));
    }
    if lock.borrow_mut().try_take(caller) {
        return ret(Object::Bool(true));
    }
    if !block {
        return ret(Object::Bool(false));
    }
    Ok(Outcome::Wait(Box::pin(take_lock(lock, caller, 1, timeout))))
}

thread_local! {
    /// The locks of the server on this thread, by their sync id, for conditions built over
    /// them (a constructor sees only its arguments).
    static LOCKS: RefCell<HashMap<u64, Weak<RefCell<LockState>>>> = RefCell::new(HashMap::new());
}

/// A `Lock` (`recursive == false`) or an `RLock`: held by one caller (a client session's
/// thread) at a time.
pub struct Lock {
    state: Rc<RefCell<LockState>>,
    sync_id: u64,
}

impl Lock {
    /// An unlocked lock, recursive (an `RLock`) or not.
    #[must_use]
    pub fn new(recursive: bool) -> Lock {
        let state = Rc::new(RefCell::new(LockState {
            recursive,
            owner: None,
            count: 0,
            waiters: Waiters::default(),
        }));
        let sync_id = rand::random();
        LOCKS.with(|l| l.borrow_mut().insert(sync_id, Rc::downgrade(&state)));
        Lock { state, sync_id }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = LOCKS.try_with(|l| l.borrow_mut().remove(&self.sync_id));
    }
}

impl Shared for Lock {
    fn call(&mut self, method: &str, args: Vec<Object>, caller: Caller) -> Result<Outcome, Raised> {
        match method {
            "acquire" | "__enter__" => acquire_lock(&self.state, &args, caller),
            "release" | "__exit__" => {
                self.state.borrow_mut().release(caller)?;
                ret(Object::None)
            }
            "locked" => ret(Object::Bool(self.state.borrow().owner.is_some())),
            "_sync_id" => ret(Object::Int(i128::from(self.sync_id))),
            // How many callers wait for it (for tests and debugging; not in Python).
            "_waiters" => ret(Object::Int(self.state.borrow().waiters.len() as i128)),
            _ => Err(no_method(
                if self.state.borrow().recursive {
                    "RLock"
                } else {
                    "lock"
                },
                method,
            )),
        }
    }

    fn client_gone(&mut self, session: u64) {
        self.state.borrow_mut().session_gone(session);
    }

    fn value(&self) -> Object {
        Object::Bool(self.state.borrow().owner.is_some())
    }

    fn repr(&self) -> String {
        self.state.borrow().repr()
    }
}

// ---------------------------------------------------------------------------------------------
// Semaphore and BoundedSemaphore

struct SemaphoreState {
    value: u64,
    bound: Option<u64>,
    waiters: Waiters,
    /// The permits each connection's own caller ([`Caller::channel`]) holds.
    channels: HashMap<u64, u64>,
}

impl SemaphoreState {
    fn waiters(&mut self) -> &mut Waiters {
        &mut self.waiters
    }

    /// Takes a permit for `caller`.
    fn take(&mut self, caller: Caller) {
        self.value -= 1;
        if caller.channel {
            *self.channels.entry(caller.session).or_default() += 1;
        }
    }

    /// Puts `n` permits back (at most up to the bound) and wakes as many waiters.
    fn put_back(&mut self, n: u64) {
        self.value = self.value.saturating_add(n);
        if let Some(b) = self.bound {
            self.value = self.value.min(b);
        }
        for _ in 0..n.min(self.waiters.len() as u64) {
            self.waiters.wake_one();
        }
    }
}

/// A `Semaphore`, or with a bound a `BoundedSemaphore` (releasing past its initial value is a
/// `ValueError`). Its permits have no owner, as in Python: a process that dies holding one
/// does not give it back. A permit taken by a connection's own caller (an async hold,
/// [`Caller::channel`]) is that connection's, though, and goes back when it closes. Clones
/// share one semaphore.
#[derive(Clone)]
pub struct Semaphore(Rc<RefCell<SemaphoreState>>);

impl Semaphore {
    /// A semaphore with `value` permits, bounded by it or not.
    #[must_use]
    pub fn new(value: u64, bounded: bool) -> Semaphore {
        Semaphore(Rc::new(RefCell::new(SemaphoreState {
            value,
            bound: bounded.then_some(value),
            waiters: Waiters::default(),
            channels: HashMap::new(),
        })))
    }
}

impl Shared for Semaphore {
    fn call(&mut self, method: &str, args: Vec<Object>, caller: Caller) -> Result<Outcome, Raised> {
        match method {
            "acquire" | "__enter__" => {
                let block = bool_arg(args.first(), true)?;
                let timeout = timeout_arg(args.get(1), false)?;
                if !block && timeout.is_some() {
                    return Err(value_error(
                        "can't specify timeout for non-blocking acquire",
                    ));
                }
                {
                    let mut s = self.0.borrow_mut();
                    if s.value > 0 {
                        s.take(caller);
                        return ret(Object::Bool(true));
                    }
                }
                if !block {
                    return ret(Object::Bool(false));
                }
                Ok(Outcome::Wait(Box::pin(Waiting::new(
                    &self.0,
                    SemaphoreState::waiters,
                    timeout,
                    Box::new(move |s: &mut SemaphoreState| {
                        (s.value > 0).then(|| {
                            s.take(caller);
                            Ok(Object::Bool(true))
                        })
                    }),
                    Box::new(|_| Ok(Object::Bool(false))),
                ))))
            }
            "release" | "__exit__" => {
                let n = if method == "release" {
                    int_arg(args.first(), 1)?
                } else {
                    1
                };
                if n < 1 {
                    return Err(value_error("n must be one or more"));
                }
                let n = u64::try_from(n).map_err(|_| value_error("n is too large"))?;
                let mut s = self.0.borrow_mut();
                if s.bound.is_some_and(|b| s.value.saturating_add(n) > b) {
                    return Err(value_error("Semaphore released too many times"));
                }
                if caller.channel
                    && let Some(held) = s.channels.get_mut(&caller.session)
                {
                    *held = held.saturating_sub(n);
                    if *held == 0 {
                        s.channels.remove(&caller.session);
                    }
                }
                s.put_back(n);
                ret(Object::None)
            }
            "get_value" | "_value" => ret(Object::Int(i128::from(self.0.borrow().value))),
            "_waiters" => ret(Object::Int(self.0.borrow().waiters.len() as i128)),
            _ => Err(no_method("Semaphore", method)),
        }
    }

    fn client_gone(&mut self, session: u64) {
        let mut s = self.0.borrow_mut();
        if let Some(n) = s.channels.remove(&session) {
            s.put_back(n);
        }
    }

    fn value(&self) -> Object {
        Object::Int(i128::from(self.0.borrow().value))
    }

    fn repr(&self) -> String {
        let s = self.0.borrow();
        match s.bound {
            Some(b) => format!("<threading.BoundedSemaphore: value={}/{b}>", s.value),
            None => format!("<threading.Semaphore: value={}>", s.value),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Condition

#[derive(Default)]
struct ConditionState {
    waiters: Waiters,
    /// Waiters notified but not yet resumed.
    notified: HashSet<u64>,
}

impl ConditionState {
    fn waiters(&mut self) -> &mut Waiters {
        &mut self.waiters
    }
}

/// A `Condition` over its own `RLock` or over a manager `Lock`/`RLock` of the same server.
pub struct Condition {
    lock: Rc<RefCell<LockState>>,
    /// The shared object id of the lock it was built over, kept alive by this condition.
    lock_ref: Option<u64>,
    state: Rc<RefCell<ConditionState>>,
}

impl Condition {
    fn owned_by(&self, caller: Caller, what: &str) -> Result<(), Raised> {
        if self.lock.borrow().owner == Some(caller) {
            Ok(())
        } else {
            Err(Raised::new(
                Exception::NotOwner,
                format!("cannot {what} un-acquired lock"),
            ))
        }
    }

    fn wait(&mut self, args: &[Object], caller: Caller) -> Result<Outcome, Raised> {
        self.owned_by(caller, "wait on")?;
        let timeout = timeout_arg(args.first(), false)?;
        // Let go of the lock entirely (an RLock held several times too) while waiting.
        let count = {
            let mut l = self.lock.borrow_mut();
            let count = l.count;
            l.owner = None;
            l.count = 0;
            l.waiters.wake_one();
            count
        };
        let notice = {
            let id_cell = Rc::new(std::cell::Cell::new(0));
            let id_seen = id_cell.clone();
            let w = Waiting::new(
                &self.state,
                ConditionState::waiters,
                timeout,
                Box::new(move |s: &mut ConditionState| {
                    s.notified
                        .remove(&id_seen.get())
                        .then_some(Ok(Object::Bool(true)))
                }),
                Box::new(|_| Ok(Object::Bool(false))),
            );
            id_cell.set(w.id);
            let id = w.id;
            w.without_pass_on()
                .on_cancel(Box::new(move |s: &mut ConditionState| {
                    // A notification its dead receiver never used goes to the next waiter.
                    if s.notified.remove(&id)
                        && let Some((next, w)) = s.waiters.queue.pop_front()
                    {
                        s.notified.insert(next);
                        w.wake();
                    }
                }))
        };
        let lock = self.lock.clone();
        Ok(Outcome::Wait(Box::pin(async move {
            let notified = notice.await?;
            // Take the lock back, as many times as it was held, however long it takes.
            take_lock(&lock, caller, count, None).await?;
            Ok(notified)
        })))
    }

    fn notify(&mut self, n: usize) {
        let mut s = self.state.borrow_mut();
        for _ in 0..n {
            match s.waiters.queue.pop_front() {
                Some((id, w)) => {
                    s.notified.insert(id);
                    w.wake();
                }
                None => break,
            }
        }
    }
}

impl Shared for Condition {
    fn call(&mut self, method: &str, args: Vec<Object>, caller: Caller) -> Result<Outcome, Raised> {
        match method {
            "acquire" | "__enter__" => acquire_lock(&self.lock, &args, caller),
            "release" | "__exit__" => {
                self.lock.borrow_mut().release(caller)?;
                ret(Object::None)
            }
            "wait" => self.wait(&args, caller),
            "notify" => {
                self.owned_by(caller, "notify on")?;
                let n = int_arg(args.first(), 1)?;
                self.notify(usize::try_from(n.max(0)).unwrap_or(usize::MAX));
                ret(Object::None)
            }
            "notify_all" => {
                self.owned_by(caller, "notify on")?;
                self.notify(usize::MAX);
                ret(Object::None)
            }
            _ => Err(no_method("Condition", method)),
        }
    }

    fn client_gone(&mut self, session: u64) {
        self.lock.borrow_mut().session_gone(session);
    }

    fn value(&self) -> Object {
        Object::None
    }

    fn repr(&self) -> String {
        format!(
            "<Condition({}, {})>",
            self.lock.borrow().repr(),
            self.state.borrow().waiters.len()
        )
    }

    fn references(&self, out: &mut Vec<u64>) {
        out.extend(self.lock_ref);
    }
}

// ---------------------------------------------------------------------------------------------
// Event

#[derive(Default)]
struct EventState {
    flag: bool,
    /// How many times it was set: a waiter woken by a `set` returns true even if a `clear`
    /// came before it ran, as in Python.
    sets: u64,
    waiters: Waiters,
}

impl EventState {
    fn waiters(&mut self) -> &mut Waiters {
        &mut self.waiters
    }
}

/// An `Event`: a flag that callers wait to see set. Clones share one event.
#[derive(Default, Clone)]
pub struct Event(Rc<RefCell<EventState>>);

impl Shared for Event {
    fn call(&mut self, method: &str, args: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        match method {
            "is_set" => ret(Object::Bool(self.0.borrow().flag)),
            "set" => {
                let mut s = self.0.borrow_mut();
                s.flag = true;
                s.sets += 1;
                s.waiters.wake_all();
                ret(Object::None)
            }
            "clear" => {
                self.0.borrow_mut().flag = false;
                ret(Object::None)
            }
            "wait" => {
                let timeout = timeout_arg(args.first(), false)?;
                let since = {
                    let s = self.0.borrow();
                    if s.flag {
                        return ret(Object::Bool(true));
                    }
                    s.sets
                };
                Ok(Outcome::Wait(Box::pin(Waiting::new(
                    &self.0,
                    EventState::waiters,
                    timeout,
                    Box::new(move |s: &mut EventState| {
                        (s.flag || s.sets != since).then_some(Ok(Object::Bool(true)))
                    }),
                    Box::new(|_| Ok(Object::Bool(false))),
                ))))
            }
            _ => Err(no_method("Event", method)),
        }
    }

    fn value(&self) -> Object {
        Object::Bool(self.0.borrow().flag)
    }

    fn repr(&self) -> String {
        let set = if self.0.borrow().flag { "set" } else { "unset" };
        format!("<threading.Event: {set}>")
    }
}

// ---------------------------------------------------------------------------------------------
// Barrier

fn broken_barrier() -> Raised {
    Raised::new(Exception::BrokenBarrierError, "")
}

struct BarrierState {
    parties: usize,
    /// Callers waiting in the current round: `None` while waiting, `Some(passed)` once the
    /// round ends (`false`: the barrier broke or was reset under them).
    round: HashMap<u64, Option<bool>>,
    /// How many of `round` still wait.
    count: usize,
    broken: bool,
    default_timeout: Option<Duration>,
    waiters: Waiters,
}

impl BarrierState {
    fn waiters(&mut self) -> &mut Waiters {
        &mut self.waiters
    }

    /// Ends the round for everyone waiting: passed, or broken.
    fn release_all(&mut self, passed: bool) {
        for v in self.round.values_mut() {
            if v.is_none() {
                *v = Some(passed);
            }
        }
        self.count = 0;
        self.waiters.wake_all();
    }
}

/// A `Barrier` of `parties` callers (Python's `action` is not supported: it would run in the
/// server). Clones share one barrier.
#[derive(Clone)]
pub struct Barrier(Rc<RefCell<BarrierState>>);

impl Barrier {
    fn wait(&mut self, args: &[Object]) -> Result<Outcome, Raised> {
        let timeout = match args.first() {
            None | Some(Object::None) => self.0.borrow().default_timeout,
            t => timeout_arg(t, false)?,
        };
        let (index, id) = {
            let mut s = self.0.borrow_mut();
            if s.broken {
                return Err(broken_barrier());
            }
            let index = s.count;
            s.count += 1;
            if s.count == s.parties {
                s.release_all(true);
                return ret(Object::Int(index as i128));
            }
            let id = s.waiters.new_id();
            s.round.insert(id, None);
            (index, id)
        };
        let mut w = Waiting::new(
            &self.0,
            BarrierState::waiters,
            timeout,
            Box::new(move |s: &mut BarrierState| match s.round.get(&id) {
                Some(None) => None,
                Some(Some(true)) => {
                    s.round.remove(&id);
                    Some(Ok(Object::Int(index as i128)))
                }
                _ => {
                    s.round.remove(&id);
                    Some(Err(broken_barrier()))
                }
            }),
            // A wait that times out breaks the barrier for everyone, as in Python.
            Box::new(move |s: &mut BarrierState| {
                s.round.remove(&id);
                s.broken = true;
                s.release_all(false);
                Err(broken_barrier())
            }),
        )
        .on_cancel(Box::new(move |s: &mut BarrierState| {
            // A caller gone while waiting no longer counts as arrived.
            if let Some(None) = s.round.remove(&id) {
                s.count -= 1;
            }
        }));
        w.id = id;
        Ok(Outcome::Wait(Box::pin(w)))
    }
}

impl Shared for Barrier {
    fn call(&mut self, method: &str, args: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        match method {
            "wait" => self.wait(&args),
            "abort" => {
                let mut s = self.0.borrow_mut();
                s.broken = true;
                s.release_all(false);
                ret(Object::None)
            }
            "reset" => {
                let mut s = self.0.borrow_mut();
                s.release_all(false);
                s.broken = false;
                ret(Object::None)
            }
            "parties" => ret(Object::Int(self.0.borrow().parties as i128)),
            "n_waiting" => ret(Object::Int(self.0.borrow().count as i128)),
            "broken" => ret(Object::Bool(self.0.borrow().broken)),
            _ => Err(no_method("Barrier", method)),
        }
    }

    fn value(&self) -> Object {
        Object::Int(self.0.borrow().count as i128)
    }

    fn repr(&self) -> String {
        let s = self.0.borrow();
        if s.broken {
            "<threading.Barrier: broken>".into()
        } else {
            format!("<threading.Barrier: waiters={}/{}>", s.count, s.parties)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Queue and JoinableQueue

struct QueueState {
    items: VecDeque<Object>,
    /// 0: unbounded.
    maxsize: usize,
    joinable: bool,
    unfinished: u64,
    getters: Waiters,
    putters: Waiters,
    joiners: Waiters,
}

impl QueueState {
    fn getters(&mut self) -> &mut Waiters {
        &mut self.getters
    }
    fn putters(&mut self) -> &mut Waiters {
        &mut self.putters
    }
    fn joiners(&mut self) -> &mut Waiters {
        &mut self.joiners
    }

    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() >= self.maxsize
    }

    fn push(&mut self, item: Object) {
        self.items.push_back(item);
        self.unfinished += 1;
        self.getters.wake_one();
    }

    fn pop(&mut self) -> Option<Object> {
        let item = self.items.pop_front()?;
        self.putters.wake_one();
        Some(item)
    }
}

fn empty() -> Raised {
    Raised::new(Exception::Empty, "")
}

fn full() -> Raised {
    Raised::new(Exception::Full, "")
}

/// A `Queue` (Python's `queue.Queue`), or a `JoinableQueue` that also counts unfinished tasks.
///
/// Clones share one queue, so a registered constructor can hand out the same queue every time
/// (the documentation's `QueueManager.register('get_queue', callable=lambda: queue)`):
///
/// ```
/// use multiprocessing_managers::sync_types::Queue;
/// use multiprocessing_managers::{Object, Raised, Shared};
/// thread_local! {
///     // The server's thread owns it.
///     static QUEUE: Queue = Queue::new(0, false);
/// }
/// fn get_queue(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
///     Ok(Box::new(QUEUE.with(Queue::clone)))
/// }
/// # let _ = get_queue;
/// ```
#[derive(Clone)]
pub struct Queue(Rc<RefCell<QueueState>>);

impl Queue {
    /// A queue holding at most `maxsize` items (0: no bound).
    #[must_use]
    pub fn new(maxsize: usize, joinable: bool) -> Queue {
        Queue(Rc::new(RefCell::new(QueueState {
            items: VecDeque::new(),
            maxsize,
            joinable,
            unfinished: 0,
            getters: Waiters::default(),
            putters: Waiters::default(),
            joiners: Waiters::default(),
        })))
    }

    fn put(&mut self, mut args: Vec<Object>, block: bool) -> Result<Outcome, Raised> {
        if args.is_empty() {
            return Err(type_error("put() needs an item"));
        }
        let rest = args.split_off(1);
        let item = args.pop().unwrap_or(Object::None);
        let block = block && bool_arg(rest.first(), true)?;
        let timeout = timeout_arg(rest.get(1), false)?;
        {
            let mut s = self.0.borrow_mut();
            if !s.full() {
                s.push(item);
                return ret(Object::None);
            }
        }
        if !block {
            return Err(full());
        }
        let mut item = Some(item);
        Ok(Outcome::Wait(Box::pin(Waiting::new(
            &self.0,
            QueueState::putters,
            timeout,
            Box::new(move |s: &mut QueueState| {
                if s.full() {
                    return None;
                }
                s.push(item.take().unwrap_or(Object::None));
                Some(Ok(Object::None))
            }),
            Box::new(|_| Err(full())),
        ))))
    }

    fn get(&mut self, args: &[Object], block: bool) -> Result<Outcome, Raised> {
        let block = block && bool_arg(args.first(), true)?;
        let timeout = timeout_arg(args.get(1), false)?;
        if let Some(item) = self.0.borrow_mut().pop() {
            return ret(item);
        }
        if !block {
            return Err(empty());
        }
        Ok(Outcome::Wait(Box::pin(Waiting::new(
            &self.0,
            QueueState::getters,
            timeout,
            Box::new(|s: &mut QueueState| s.pop().map(Ok)),
            Box::new(|_| Err(empty())),
        ))))
    }
}

impl Shared for Queue {
    fn call(&mut self, method: &str, args: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        let joinable = self.0.borrow().joinable;
        match method {
            "put" => self.put(args, true),
            "put_nowait" => self.put(args, false),
            "get" => self.get(&args, true),
            "get_nowait" => self.get(&args, false),
            "qsize" => ret(Object::Int(self.0.borrow().items.len() as i128)),
            "empty" => ret(Object::Bool(self.0.borrow().items.is_empty())),
            "full" => ret(Object::Bool(self.0.borrow().full())),
            "maxsize" => ret(Object::Int(self.0.borrow().maxsize as i128)),
            // How many callers wait to get (for tests and debugging; not in Python).
            "_getters" => ret(Object::Int(self.0.borrow().getters.len() as i128)),
            "task_done" if joinable => {
                let mut s = self.0.borrow_mut();
                if s.unfinished == 0 {
                    return Err(value_error("task_done() called too many times"));
                }
                s.unfinished -= 1;
                if s.unfinished == 0 {
                    s.joiners.wake_all();
                }
                ret(Object::None)
            }
            "join" if joinable => {
                let timeout = timeout_arg(args.first(), false)?;
                if self.0.borrow().unfinished == 0 {
                    return ret(Object::None);
                }
                Ok(Outcome::Wait(Box::pin(Waiting::new(
                    &self.0,
                    QueueState::joiners,
                    timeout,
                    Box::new(|s: &mut QueueState| (s.unfinished == 0).then_some(Ok(Object::None))),
                    Box::new(|_| {
                        Err(Raised::new(
                            Exception::TimeoutError,
                            "unfinished tasks remain",
                        ))
                    }),
                ))))
            }
            _ => Err(no_method(
                if joinable { "JoinableQueue" } else { "Queue" },
                method,
            )),
        }
    }

    fn value(&self) -> Object {
        Object::List(self.0.borrow().items.iter().cloned().collect())
    }

    fn repr(&self) -> String {
        let s = self.0.borrow();
        let ty = if s.joinable { "JoinableQueue" } else { "Queue" };
        format!("<queue.{ty} qsize={} maxsize={}>", s.items.len(), s.maxsize)
    }

    fn references(&self, out: &mut Vec<u64>) {
        self.0
            .borrow()
            .items
            .iter()
            .for_each(|o| collect_references(o, out));
    }
}

// ---------------------------------------------------------------------------------------------
// Array

/// An `Array`: Python's `array.array(typecode, values)`, each item checked against the type
/// code.
pub struct Array {
    typecode: char,
    items: List,
}

/// The integer range of an integer type code, `None` for the others.
fn int_range(typecode: char) -> Option<(i128, i128)> {
    Some(match typecode {
        'b' => (i128::from(i8::MIN), i128::from(i8::MAX)),
        'B' => (0, i128::from(u8::MAX)),
        'h' => (i128::from(i16::MIN), i128::from(i16::MAX)),
        'H' => (0, i128::from(u16::MAX)),
        'i' => (i128::from(i32::MIN), i128::from(i32::MAX)),
        'I' => (0, i128::from(u32::MAX)),
        'l' | 'q' => (i128::from(i64::MIN), i128::from(i64::MAX)),
        'L' | 'Q' => (0, i128::from(u64::MAX)),
        _ => return None,
    })
}

fn check_typecode(typecode: &str) -> Result<char, Raised> {
    let mut c = typecode.chars();
    match (c.next(), c.next()) {
        (Some(t), None) if int_range(t).is_some() || matches!(t, 'f' | 'd' | 'u') => Ok(t),
        _ => Err(value_error(
            "bad typecode (must be b, B, u, h, H, i, I, l, L, q, Q, f or d)",
        )),
    }
}

/// `o` as an item of an array of `typecode`.
fn coerce(typecode: char, o: Object) -> Result<Object, Raised> {
    if let Some((lo, hi)) = int_range(typecode) {
        let i = match o {
            Object::Int(i) => i,
            Object::Bool(b) => i128::from(b),
            other => {
                return Err(type_error(format!(
                    "an integer is required (got {other:?})"
                )));
            }
        };
        return if (lo..=hi).contains(&i) {
            Ok(Object::Int(i))
        } else {
            Err(Raised::new(
                Exception::ValueError,
                format!("{i} is out of range for type code '{typecode}'"),
            ))
        };
    }
    match (typecode, o) {
        ('f' | 'd', Object::Float(f)) => Ok(Object::Float(f)),
        ('f' | 'd', Object::Int(i)) => Ok(Object::Float(i as f64)),
        ('u', Object::Str(s)) if s.chars().count() == 1 => Ok(Object::Str(s)),
        (_, other) => Err(type_error(format!(
            "an item of type code '{typecode}' is required (got {other:?})"
        ))),
    }
}

impl Array {
    /// An array of `typecode` (`"i"`, `"d"`, ... as Python's `array` module) holding `items`.
    pub fn new(typecode: &str, items: Vec<Object>) -> Result<Array, Raised> {
        let typecode = check_typecode(typecode)?;
        let items = items
            .into_iter()
            .map(|o| coerce(typecode, o))
            .collect::<Result<_, _>>()?;
        Ok(Array {
            typecode,
            items: List(items),
        })
    }
}

impl Shared for Array {
    fn call(&mut self, method: &str, args: Vec<Object>, caller: Caller) -> Result<Outcome, Raised> {
        match method {
            "__len__" | "__getitem__" => self.items.call(method, args, caller),
            "__setitem__" => {
                let mut a = args.into_iter();
                let (Some(at), Some(v)) = (a.next(), a.next()) else {
                    return Err(type_error("__setitem__() needs an index and a value"));
                };
                let v = match (&at, v) {
                    (Object::Tuple(_), Object::List(items) | Object::Tuple(items)) => Object::List(
                        items
                            .into_iter()
                            .map(|o| coerce(self.typecode, o))
                            .collect::<Result<_, _>>()?,
                    ),
                    (Object::Tuple(_), _) => {
                        return Err(type_error("can only assign array (not a value) to a slice"));
                    }
                    (_, v) => coerce(self.typecode, v)?,
                };
                self.items.call(method, vec![at, v], caller)
            }
            "typecode" => ret(Object::Str(self.typecode.to_string())),
            _ => Err(no_method("array.array", method)),
        }
    }

    fn value(&self) -> Object {
        Object::List(self.items.0.clone())
    }

    fn repr(&self) -> String {
        if self.items.0.is_empty() {
            format!("array('{}')", self.typecode)
        } else {
            format!(
                "array('{}', {})",
                self.typecode,
                crate::types::repr(&Object::List(self.items.0.clone()))
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Constructors

fn usize_arg(o: Option<&Object>, what: &str) -> Result<usize, Raised> {
    let i = int_arg(o, 0)?;
    usize::try_from(i).map_err(|_| value_error(format!("{what} must be >= 0")))
}

fn make_queue(args: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Queue::new(
        usize_arg(args.first(), "maxsize")?,
        false,
    )))
}

fn make_joinable_queue(args: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Queue::new(
        usize_arg(args.first(), "maxsize")?,
        true,
    )))
}

fn make_lock(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Lock::new(false)))
}

fn make_rlock(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Lock::new(true)))
}

fn semaphore_value(args: &[Object]) -> Result<u64, Raised> {
    let v = int_arg(args.first(), 1)?;
    u64::try_from(v).map_err(|_| value_error("semaphore initial value must be >= 0"))
}

fn make_semaphore(args: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Semaphore::new(semaphore_value(&args)?, false)))
}

fn make_bounded_semaphore(args: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Semaphore::new(semaphore_value(&args)?, true)))
}

/// `Condition()` over its own `RLock`, or `Condition(lock)` with the lock's proxy and sync id.
fn make_condition(args: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    let (lock, lock_ref) = match args.as_slice() {
        [] | [Object::None] => (Lock::new(true).state.clone(), None),
        [Object::Proxy(t), Object::Int(sync_id)] => {
            let sync_id = u64::try_from(*sync_id).map_err(|_| type_error("a lock's sync id"))?;
            let state = LOCKS
                .with(|l| l.borrow().get(&sync_id).and_then(Weak::upgrade))
                .ok_or_else(|| type_error("Condition() needs a Lock or RLock of this manager"))?;
            (state, Some(t.id))
        }
        _ => {
            return Err(type_error(
                "Condition() takes a Lock or RLock of this manager",
            ));
        }
    };
    Ok(Box::new(Condition {
        lock,
        lock_ref,
        state: Rc::new(RefCell::new(ConditionState::default())),
    }))
}

fn make_event(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Event::default()))
}

fn make_barrier(args: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    let parties = usize_arg(args.first(), "parties")?;
    if parties == 0 {
        return Err(value_error("parties must be > 0"));
    }
    let default_timeout = timeout_arg(args.get(1), false)?;
    Ok(Box::new(Barrier(Rc::new(RefCell::new(BarrierState {
        parties,
        round: HashMap::new(),
        count: 0,
        broken: false,
        default_timeout,
        waiters: Waiters::default(),
    })))))
}

fn make_array(args: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    let mut a = args.into_iter();
    match (a.next(), a.next()) {
        (Some(Object::Str(t)), Some(Object::List(v) | Object::Tuple(v))) => {
            Ok(Box::new(Array::new(&t, v)?))
        }
        (Some(Object::Str(t)), None) => Ok(Box::new(Array::new(&t, Vec::new())?)),
        _ => Err(type_error("Array() takes a type code and a sequence")),
    }
}

/// Runs a waiting call to its end, for the module's unit tests.
#[cfg(test)]
fn finish(f: crate::shared::WaitFuture) -> Result<Object, Raised> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    rt.block_on(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(o: &mut dyn Shared, m: &str, args: Vec<Object>, c: Caller) -> Outcome {
        o.call(m, args, c).unwrap()
    }

    fn returned(o: Outcome) -> Object {
        match o {
            Outcome::Return(o) => o,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_rlock_counts_and_checks_its_owner() {
        let (a, b) = (Caller::new(1, 1), Caller::new(1, 2));
        let mut l = Lock::new(true);
        assert_eq!(
            returned(call(&mut l, "acquire", vec![], a)),
            Object::Bool(true)
        );
        assert_eq!(
            returned(call(&mut l, "acquire", vec![], a)),
            Object::Bool(true)
        );
        let e = l.call("release", vec![], b).unwrap_err();
        assert_eq!(e.exception, Exception::NotOwner);
        assert_eq!(
            e.to_string(),
            "RuntimeError: cannot release un-acquired lock"
        );
        returned(call(&mut l, "release", vec![], a));
        assert_eq!(l.repr(), "<locked _thread.RLock object count=1>");
        returned(call(&mut l, "release", vec![], a));
        let mut plain = Lock::new(false);
        let e = plain.call("release", vec![], a).unwrap_err();
        assert_eq!(e.to_string(), "RuntimeError: release unlocked lock");
    }

    #[test]
    fn a_timed_acquire_of_a_held_lock_answers_false() {
        let mut l = Lock::new(false);
        returned(call(&mut l, "acquire", vec![], Caller::new(1, 1)));
        let Outcome::Wait(f) = call(
            &mut l,
            "acquire",
            vec![Object::Bool(true), Object::Float(0.01)],
            Caller::new(2, 1),
        ) else {
            panic!("a held lock waits")
        };
        assert_eq!(finish(f), Ok(Object::Bool(false)));
    }

    /// Polls `f` once, in a runtime (its waker is a no-op).
    fn poll_once(f: &mut crate::shared::WaitFuture) -> Poll<Result<Object, Raised>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let _in_rt = rt.enter();
        f.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_notification_of_a_waiter_that_hung_up_goes_to_the_next() {
        let (a, b, c) = (Caller::new(1, 1), Caller::new(2, 1), Caller::new(3, 1));
        let mut cond = make_condition(Vec::new()).unwrap();
        let mut wait = |who: Caller| {
            returned(call(&mut *cond, "acquire", vec![], who));
            match call(&mut *cond, "wait", vec![], who) {
                Outcome::Wait(f) => f,
                other => panic!("unexpected {other:?}"),
            }
        };
        let mut first = wait(a);
        let mut second = wait(b);
        assert!(poll_once(&mut first).is_pending());
        assert!(poll_once(&mut second).is_pending());
        returned(call(&mut *cond, "acquire", vec![], c));
        returned(call(&mut *cond, "notify", vec![Object::Int(1)], c));
        returned(call(&mut *cond, "release", vec![], c));
        // The notified waiter's caller hangs up before it resumes.
        drop(first);
        assert_eq!(poll_once(&mut second), Poll::Ready(Ok(Object::Bool(true))));
    }

    #[test]
    fn a_bounded_semaphore_refuses_an_over_release() {
        let mut s = Semaphore::new(1, true);
        let c = Caller::new(1, 1);
        let e = s.call("release", vec![], c).unwrap_err();
        assert_eq!(e.exception, Exception::ValueError);
        let mut s = Semaphore::new(0, false);
        returned(call(&mut s, "release", vec![Object::Int(2)], c));
        assert_eq!(s.repr(), "<threading.Semaphore: value=2>");
    }

    #[test]
    fn a_channels_permits_go_back_when_it_ends_a_sessions_do_not() {
        let (channel, process) = (Caller::channel(7, 1), Caller::new(8, 1));
        let mut s = Semaphore::new(3, true);
        for who in [channel, channel, process] {
            returned(call(&mut s, "acquire", vec![], who));
        }
        // One of the channel's two permits is released by it: one is left to give back.
        returned(call(&mut s, "release", vec![], channel));
        s.client_gone(process.session);
        assert_eq!(s.value(), Object::Int(1));
        s.client_gone(channel.session);
        assert_eq!(s.value(), Object::Int(2));
        s.client_gone(channel.session);
        assert_eq!(s.value(), Object::Int(2));
        // A permit granted to a waiting channel counts too.
        let mut s = Semaphore::new(0, false);
        let Outcome::Wait(mut f) = call(&mut s, "acquire", vec![], channel) else {
            panic!("an empty semaphore waits")
        };
        returned(call(&mut s, "release", vec![], process));
        assert_eq!(poll_once(&mut f), Poll::Ready(Ok(Object::Bool(true))));
        s.client_gone(channel.session);
        assert_eq!(s.value(), Object::Int(1));
    }

    #[test]
    fn a_queue_raises_empty_and_full() {
        let c = Caller::new(1, 1);
        let mut q = Queue::new(1, true);
        assert_eq!(
            q.call("get_nowait", vec![], c).unwrap_err().exception,
            Exception::Empty
        );
        returned(call(&mut q, "put", vec![Object::Int(1)], c));
        assert_eq!(
            q.call("put_nowait", vec![Object::Int(2)], c)
                .unwrap_err()
                .exception,
            Exception::Full
        );
        let Outcome::Wait(f) = call(
            &mut q,
            "put",
            vec![Object::Int(2), Object::Bool(true), Object::Float(0.01)],
            c,
        ) else {
            panic!("a full queue waits")
        };
        assert_eq!(finish(f).unwrap_err().exception, Exception::Full);
        assert_eq!(returned(call(&mut q, "get", vec![], c)), Object::Int(1));
        returned(call(&mut q, "task_done", vec![], c));
        assert_eq!(
            q.call("task_done", vec![], c).unwrap_err().exception,
            Exception::ValueError
        );
    }

    #[test]
    fn an_array_checks_its_items_and_slices_like_a_list() {
        let c = Caller::new(1, 1);
        let mut a = Array::new("i", (0..5).map(Object::Int).collect()).unwrap();
        assert_eq!(a.repr(), "array('i', [0, 1, 2, 3, 4])");
        let e = a
            .call("__setitem__", vec![Object::Int(0), Object::Float(1.5)], c)
            .unwrap_err();
        assert_eq!(e.exception, Exception::TypeError);
        let e = a
            .call("__setitem__", vec![Object::Int(0), Object::Int(1 << 40)], c)
            .unwrap_err();
        assert_eq!(e.exception, Exception::ValueError);
        let slice = Object::Tuple(vec![Object::Int(1), Object::Int(3), Object::None]);
        returned(call(
            &mut a,
            "__setitem__",
            vec![
                slice.clone(),
                Object::List(vec![Object::Int(7), Object::Int(8)]),
            ],
            c,
        ));
        assert_eq!(
            returned(call(&mut a, "__getitem__", vec![slice], c)),
            Object::List(vec![Object::Int(7), Object::Int(8)])
        );
        let d = Array::new("d", vec![Object::Int(1)]).unwrap();
        assert_eq!(d.repr(), "array('d', [1.0])");
        assert!(Array::new("z", vec![]).is_err());
    }
}
