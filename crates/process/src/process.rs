//! `Process`: a target running in a child process (Python's `multiprocessing.Process`).
//!
//! Build one from a target and its arguments (a tuple, like Python's `args=`), optionally with a
//! name, the daemon flag, an authkey and a [`Context`] through [`ProcessBuilder`]; then
//! [`start`](Process::start) it, [`join`](Process::join) it and read its
//! [`exitcode`](Process::exitcode): 0 after a normal return, the code given to
//! `std::process::exit`, 1 after a panic, `-N` after signal N. A `Process` is a cheap handle:
//! clones refer to the same child, as Python's objects do.
//!
//! ```
//! use multiprocessing_process::Process;
//! fn greet(name: String) { println!("hello {name}"); }
//! let p = Process::new(greet, ("bob".to_string(),));
//! p.start().unwrap();
//! assert_eq!(p.join().unwrap(), 0);
//! assert_eq!(p.exitcode(), Some(0));
//! assert!(p.to_string().ends_with("stopped exitcode=0>"));
//! ```

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use multiprocessing_core::AuthKey;
use multiprocessing_core::identity::{self, Identity, ParentInfo};
use multiprocessing_core::time::Deadline;
use rustix::process::Signal;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::{Context, default_context};
use crate::forkserver::my_pid;
use crate::popen::{Popen, launch};
use crate::signals::exitcode_name;
use crate::target::Payload;
use crate::{Error, Result, Target, registry};

type MakePayload = Box<dyn FnOnce() -> Result<Payload> + Send>;

/// A child process running a target (Python's `multiprocessing.Process`).
///
/// Built from a target and its arguments (a tuple), with options through [`ProcessBuilder`];
/// a cheap handle whose clones refer to the same child. After [`start`](Process::start),
/// [`join`](Process::join) waits for the child and returns its exit code.
///
/// ```
/// use multiprocessing_process::{Process, StartMethod, get_context};
/// fn work(n: u32) { assert_eq!(n, 3) }
/// let p = Process::builder(work, (3,)).name("worker").context(&get_context(StartMethod::Spawn)).build();
/// assert!(p.to_string().starts_with("<SpawnProcess name='worker' parent="));
/// p.start().unwrap();
/// assert_eq!(p.join().unwrap(), 0);
/// ```
#[derive(Clone)]
pub struct Process {
    inner: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a thread that reaped the child with a blocking wait has recorded it.
    reaped: Condvar,
    /// The same news for [`Process::join_async`] futures.
    #[cfg(feature = "tokio")]
    reaped_async: tokio::sync::Notify,
}

enum Phase {
    Initial(Option<MakePayload>),
    Started(Popen),
    Closed,
}

struct State {
    name: String,
    daemon: bool,
    authkey: AuthKey,
    path: Vec<u32>,
    parent_pid: u32,
    context: Option<Context>,
    class: &'static str,
    result: Option<OwnedFd>,
    phase: Phase,
}

/// Options for a [`Process`]: name, daemon flag, authkey and context.
#[must_use = "a builder does nothing until built or started"]
pub struct ProcessBuilder {
    make: MakePayload,
    name: Option<String>,
    daemon: Option<bool>,
    authkey: Option<AuthKey>,
    context: Option<Context>,
    result: Option<OwnedFd>,
}

impl fmt::Debug for ProcessBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessBuilder")
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl ProcessBuilder {
    /// A builder for `target(args)`; `args` is a tuple (`()`, `(x,)`, `(x, y)`, ...).
    ///
    /// The target must capture nothing: that is checked when the program is compiled.
    pub fn new<F, Args>(target: F, args: Args) -> ProcessBuilder
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned + Send + 'static,
    {
        Self::with(Box::new(move || Payload::new(target, &args)))
    }

    pub(crate) fn new_typed<F, Args>(target: F, args: Args) -> ProcessBuilder
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned + Send + 'static,
        F::Output: Serialize,
    {
        Self::with(Box::new(move || Payload::typed(target, &args)))
    }

    /// A builder for any closure; it can only be started with the fork start method (spawn
    /// and forkserver refuse it with [`Error::ClosureNeedsFork`]).
    pub fn closure(f: impl FnOnce() + Send + 'static) -> ProcessBuilder {
        Self::with(Box::new(move || Ok(Payload::Closure(Box::new(f)))))
    }

    fn with(make: MakePayload) -> ProcessBuilder {
        ProcessBuilder {
            make,
            name: None,
            daemon: None,
            authkey: None,
            context: None,
            result: None,
        }
    }

    /// The process's name (default `Process-N1:N2:...`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Whether the process is daemonic: terminated when its parent exits, and not allowed to
    /// start children. By default it is daemonic when the running process is (as Python's).
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = Some(daemon);
        self
    }

    /// The process's authkey (default: the parent's).
    pub fn authkey(mut self, key: impl Into<AuthKey>) -> Self {
        self.authkey = Some(key.into());
        self
    }

    /// The context (start method) to start with (default: the default context).
    pub fn context(mut self, ctx: &Context) -> Self {
        self.context = Some(ctx.clone());
        self
    }

    pub(crate) fn result_channel(mut self, fd: OwnedFd) -> Self {
        self.result = Some(fd);
        self
    }

    /// Builds the process (not started).
    pub fn build(self) -> Process {
        let (path, _) = identity::next_child();
        let daemon = self.daemon.unwrap_or_else(|| identity::current().daemon);
        let class = self
            .context
            .as_ref()
            .map_or("Process", |c| c.get_start_method().class_name());
        // Python names a process after its class: `Process-1`, `SpawnProcess-1`, ...
        let digits: Vec<String> = path.iter().map(u32::to_string).collect();
        let default_name = format!("{class}-{}", digits.join(":"));
        Process {
            inner: Arc::new(Shared {
                reaped: Condvar::new(),
                #[cfg(feature = "tokio")]
                reaped_async: tokio::sync::Notify::new(),
                state: Mutex::new(State {
                    name: self.name.unwrap_or(default_name),
                    daemon,
                    authkey: self.authkey.unwrap_or_else(|| identity::current().authkey),
                    path,
                    parent_pid: my_pid(),
                    context: self.context,
                    class,
                    result: self.result,
                    phase: Phase::Initial(Some(self.make)),
                }),
            }),
        }
    }

    /// Builds and starts the process.
    pub fn start(self) -> Result<Process> {
        let p = self.build();
        p.start()?;
        Ok(p)
    }
}

/// A process's sentinel: a pidfd, readable once the child has exited.
///
/// Usable with `connection::wait` or any `poll`; stays valid after the child is reaped. One
/// asked for after the child was reaped (by a [`Process::join`] that needed no pidfd) is the
/// read end of a pipe with no writer, readable at once.
#[derive(Clone, Debug)]
pub struct Sentinel(Arc<OwnedFd>);

impl AsFd for Sentinel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Ready for `connection::wait` once the child has exited.
impl multiprocessing_core::time::Waitable for Sentinel {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

fn closed() -> Error {
    Error::Closed
}

impl Process {
    /// Python's `Process(target=f, args=...)` with default options; see [`ProcessBuilder`].
    #[must_use]
    pub fn new<F, Args>(target: F, args: Args) -> Process
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned + Send + 'static,
    {
        ProcessBuilder::new(target, args).build()
    }

    /// A builder for `target(args)` with options.
    pub fn builder<F, Args>(target: F, args: Args) -> ProcessBuilder
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned + Send + 'static,
    {
        ProcessBuilder::new(target, args)
    }

    /// A process running any closure: fork start method only.
    #[must_use]
    pub fn from_closure(f: impl FnOnce() + Send + 'static) -> Process {
        ProcessBuilder::closure(f).build()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn same(&self, other: &Process) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Starts the child. A second call is an error, as is starting from a daemonic process.
    pub fn start(&self) -> Result<()> {
        registry::cleanup();
        let mut st = self.lock();
        let make = match &mut st.phase {
            Phase::Closed => return Err(closed()),
            Phase::Started(_) | Phase::Initial(None) => {
                return Err(Error::AlreadyStarted);
            }
            Phase::Initial(make) => make.take(),
        };
        let make = make.ok_or_else(closed)?;
        let Identity {
            name: parent_name,
            daemon: in_daemon,
            ..
        } = identity::current();
        if st.parent_pid != my_pid() {
            return Err(Error::NotCreator {
                creator: st.parent_pid,
                current: my_pid(),
            });
        }
        if in_daemon {
            return Err(Error::DaemonicParent);
        }
        let payload = make()?;
        let child = Identity {
            name: st.name.clone(),
            path: st.path.clone(),
            authkey: st.authkey.clone(),
            daemon: st.daemon,
            parent: Some(ParentInfo {
                name: parent_name,
                pid: my_pid(),
                start: multiprocessing_core::owner::process().start,
            }),
        };
        let ctx = st.context.clone().unwrap_or_else(default_context);
        let result = st.result.take();
        // Recorded before the launch, so that after a fork the parent writes only this
        // process's state until it waits (see `popen::Kept`); a concurrent `active_children`
        // does not list it until it has started.
        registry::register(self.clone());
        match launch(ctx, payload, child, result) {
            Ok(popen) => {
                st.phase = Phase::Started(popen);
                Ok(())
            }
            Err(e) => {
                drop(st);
                registry::forget(self);
                Err(e)
            }
        }
    }

    /// `None` before the child has started, else whether it has ended (reaping it).
    pub(crate) fn started_and_ended(&self) -> Option<bool> {
        match &mut self.lock().phase {
            Phase::Started(popen) => Some(match popen.poll() {
                Ok(code) => code.is_some(),
                Err(Error::ReapedElsewhere { .. }) => true,
                Err(_) => false,
            }),
            _ => None,
        }
    }

    /// Passes `found` on, forgetting the child in the table of children once it has ended.
    fn ended(&self, found: Result<Option<i32>>) -> Result<Option<i32>> {
        if matches!(found, Ok(Some(_)) | Err(Error::ReapedElsewhere { .. })) {
            registry::forget(self);
        }
        found
    }

    fn wait(&self, deadline: Deadline) -> Result<Option<i32>> {
        let mut st = self.lock();
        if st.parent_pid != my_pid() {
            return Err(Error::NotCreator {
                creator: st.parent_pid,
                current: my_pid(),
            });
        }
        let Phase::Started(popen) = &mut st.phase else {
            return Err(match st.phase {
                Phase::Closed => closed(),
                _ => Error::NotStarted,
            });
        };
        // Only what is already known: whether the child has ended is asked once it may have
        // (at once if it has), which saves a system call per join.
        let known = popen.known();
        if !matches!(known, Ok(None)) {
            drop(st);
            return self.ended(known);
        }
        if popen.reaping() {
            // Another thread reaps it: wait below for what it records.
        } else if deadline.instant().is_none() {
            // Without a deadline, one blocking `waitid` both waits and reaps (as CPython's
            // `join` does with `waitpid`), where polling a pidfd first is one system call
            // more (and opening one, for a fork child, three); the other threads that wait
            // meanwhile take the code it records.
            if let Some(waitable) = popen.start_reaping() {
                drop(st);
                return self.reap(&waitable);
            }
        } else if !deadline.is_expired() {
            let waitable = popen.waitable()?;
            drop(st);
            if !waitable.wait(deadline)? {
                return Ok(None);
            }
            st = self.lock();
        }
        let code = loop {
            match &mut st.phase {
                // Another thread is reaping the child: wait for it to record the code.
                Phase::Started(popen) if popen.reaping() => {
                    if deadline.is_expired() {
                        return Ok(None);
                    }
                    popen.awaiting_reaper += 1;
                    st = match deadline.remaining() {
                        None => self
                            .inner
                            .reaped
                            .wait(st)
                            .unwrap_or_else(|p| p.into_inner()),
                        Some(left) => {
                            let woken = self.inner.reaped.wait_timeout(st, left);
                            woken.unwrap_or_else(|p| p.into_inner()).0
                        }
                    };
                    if let Phase::Started(popen) = &mut st.phase {
                        popen.awaiting_reaper -= 1;
                    }
                }
                Phase::Started(popen) => break popen.poll(),
                _ => return Err(closed()),
            }
        };
        drop(st);
        self.ended(code)
    }

    /// The reaping thread's blocking wait, without the process's lock; records what it found
    /// and wakes the threads waiting for that.
    fn reap(&self, waitable: &crate::popen::Waitable) -> Result<Option<i32>> {
        let reaped = waitable.reap();
        let mut st = self.lock();
        let (code, awaited) = match &mut st.phase {
            Phase::Started(popen) => (popen.finish_reaping(reaped), popen.awaiting_reaper > 0),
            _ => (Err(closed()), false),
        };
        drop(st);
        if awaited {
            self.inner.reaped.notify_all();
        }
        #[cfg(feature = "tokio")]
        self.inner.reaped_async.notify_waiters();
        self.ended(code)
    }

    /// Whether another thread reaps the child with a blocking wait right now.
    #[cfg(feature = "tokio")]
    fn reaping_elsewhere(&self) -> bool {
        matches!(&self.lock().phase, Phase::Started(popen) if popen.reaping())
    }

    /// Waits for the child to end and returns its exit code; [`Error::ReapedElsewhere`] when
    /// something else in the program reaped it first (its code is lost).
    pub fn join(&self) -> Result<i32> {
        loop {
            if let Some(code) = self.wait(Deadline::never())? {
                return Ok(code);
            }
        }
    }

    /// Waits for the child to end without blocking the runtime's thread and returns its exit
    /// code, as [`join`](Self::join) does (the `tokio` feature).
    ///
    /// The wait is on the child's pidfd (its [`sentinel`](Self::sentinel), opened now for a
    /// fork child that has none yet), registered with tokio's reactor: no thread per waiting
    /// child. Once it is readable the child is reaped with a non-blocking wait, so
    /// [`exitcode`](Self::exitcode), [`join`](Self::join) and other futures then give the same
    /// code. Several futures, and blocking joins on other threads, may wait for one child
    /// at once.
    ///
    /// For a deadline, wrap it in [`tokio::time::timeout`]. Dropping the future (on timeout or
    /// otherwise) neither kills nor reaps the child: it keeps running and a later join, blocking
    /// or not, still gets its code. To stop it, [`kill`](Self::kill) it, then join.
    ///
    /// Must be polled inside a tokio runtime with I/O enabled; outside any runtime it fails
    /// with an error of kind `Io`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiprocessing_process::Process;
    /// fn quit(code: i32) { std::process::exit(code) }
    /// fn stall() { std::thread::sleep(Duration::from_secs(600)) }
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// rt.block_on(async {
    ///     let p = Process::new(quit, (3,));
    ///     p.start().unwrap();
    ///     assert_eq!(p.join_async().await.unwrap(), 3);
    ///     assert_eq!(p.exitcode(), Some(3));
    ///
    ///     let slow = Process::new(stall, ());
    ///     slow.start().unwrap();
    ///     let late = tokio::time::timeout(Duration::from_millis(50), slow.join_async()).await;
    ///     assert!(late.is_err()); // timed out; the child still runs, unreaped
    ///     assert!(slow.is_alive());
    ///     slow.kill().unwrap();
    ///     assert_eq!(slow.join_async().await.unwrap(), -9);
    /// });
    /// ```
    #[cfg(feature = "tokio")]
    #[doc(alias = "join")]
    pub async fn join_async(&self) -> Result<i32> {
        let mut watch = None;
        let mut ended = false;
        loop {
            // Armed before the check, so a reaping thread's news between the two is not missed.
            let recorded = self.inner.reaped_async.notified();
            let mut recorded = std::pin::pin!(recorded);
            recorded.as_mut().enable();
            if let Some(code) = self.wait(Deadline::after(Duration::ZERO))? {
                return Ok(code);
            }
            if self.reaping_elsewhere() {
                recorded.await;
                continue;
            }
            let watch = match &mut watch {
                Some(w) => w,
                None => watch.insert(crate::async_wait::Watch::new(self.sentinel()?.as_fd())?),
            };
            if ended {
                // Readable, yet not reapable: the kernel is still finishing the exit.
                tokio::task::yield_now().await;
            }
            watch.readable().await?;
            ended = true;
        }
    }

    /// Waits at most `timeout` for the exit code; [`Error::Timeout`] while the child still
    /// runs (its exit code stays unset), where Python's `join(timeout)` returns with the
    /// process alive: the workspace's timed shape. Any `Duration` is accepted:
    /// [`Duration::ZERO`] only polls, [`Duration::MAX`] waits as long as [`join`](Self::join).
    /// Between the two the wait is on the child's pidfd, opened now for a fork child that has
    /// none yet (see [`sentinel`](Self::sentinel)).
    #[doc(alias = "join")]
    pub fn join_timeout(&self, timeout: Duration) -> Result<i32> {
        self.wait(Deadline::after(timeout))?.ok_or(Error::Timeout)
    }

    /// Whether the child has started and not yet ended.
    #[must_use]
    pub fn is_alive(&self) -> bool {
        let mut st = self.lock();
        // Not a child of this process (a forked copy of its parent's object): the kernel
        // would not say, and the parent may be reaping it right now.
        if st.parent_pid != my_pid() {
            return false;
        }
        match &mut st.phase {
            Phase::Started(popen) => matches!(popen.poll(), Ok(None)),
            _ => false,
        }
    }

    /// The child's process id, once started.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        match &self.lock().phase {
            Phase::Started(popen) => Some(popen.pid()),
            _ => None,
        }
    }

    /// The exit code, once the child has ended: 0, the code passed to `std::process::exit`,
    /// 1 after a panic, `-N` after signal N.
    #[must_use]
    pub fn exitcode(&self) -> Option<i32> {
        match &mut self.lock().phase {
            Phase::Started(popen) => popen.poll().ok().flatten(),
            _ => None,
        }
    }

    fn signal(&self, sig: Signal) -> Result<()> {
        let mut st = self.lock();
        let creator = st.parent_pid;
        match &mut st.phase {
            // A forked copy's child is not its own: the kernel would not let it wait for it, so
            // nothing could tell it whether the pid still names that child.
            Phase::Started(_) if creator != my_pid() => Err(Error::NotCreator {
                creator,
                current: my_pid(),
            }),
            Phase::Started(popen) => popen.send_signal(sig),
            Phase::Closed => Err(closed()),
            Phase::Initial(_) => Err(Error::NotStarted),
        }
    }

    /// Sends SIGTERM (through the child's pidfd, opened now for a fork child that has none
    /// yet); nothing when the child has ended. [`Error::NotCreator`] in a forked copy of the
    /// creating process.
    pub fn terminate(&self) -> Result<()> {
        self.signal(Signal::TERM)
    }

    /// Sends SIGKILL, as [`terminate`](Self::terminate) sends SIGTERM.
    pub fn kill(&self) -> Result<()> {
        self.signal(Signal::KILL)
    }

    /// Releases the process's resources; an error while the child still runs. Most methods
    /// fail on a closed process.
    pub fn close(&self) -> Result<()> {
        let mut st = self.lock();
        if let Phase::Started(popen) = &mut st.phase {
            match popen.poll() {
                Ok(None) => return Err(Error::StillRunning),
                Ok(Some(_)) | Err(Error::ReapedElsewhere { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        st.phase = Phase::Closed;
        drop(st);
        registry::forget(self);
        Ok(())
    }

    /// A descriptor that becomes readable when the child exits: its pidfd (Python's
    /// `Process.sentinel`).
    ///
    /// A fork child's pidfd is opened by the first call that needs it: this one, a timed
    /// join or a signal. That call fails with the kernel's error (`EMFILE` when the
    /// descriptor table is full, [`ErrorKind::Io`](multiprocessing_core::ErrorKind::Io));
    /// a start and a plain [`join`](Self::join) need none. In a forked copy of the creating
    /// process, only a pidfd the creator had opened before that fork is there
    /// ([`Error::NotCreator`] otherwise).
    pub fn sentinel(&self) -> Result<Sentinel> {
        let mut st = self.lock();
        let creator = st.parent_pid;
        match &mut st.phase {
            // A forked copy has the pidfd its creator had when it forked, if any: it cannot
            // open one it could trust (see `Popen::pidfd`).
            Phase::Started(popen) if creator != my_pid() => {
                popen.opened_pidfd().map(Sentinel).ok_or(Error::NotCreator {
                    creator,
                    current: my_pid(),
                })
            }
            Phase::Started(popen) => match popen.pidfd()? {
                Some(fd) => Ok(Sentinel(fd)),
                // Ended and reaped without one: a descriptor that is readable at once.
                None => Ok(Sentinel(Arc::new(crate::popen::readable_now()?))),
            },
            Phase::Closed => Err(closed()),
            Phase::Initial(_) => Err(Error::NotStarted),
        }
    }

    /// The process's name.
    #[must_use]
    pub fn name(&self) -> String {
        self.lock().name.clone()
    }

    /// Renames the process (the child sees the name it had when started).
    pub fn set_name(&self, name: impl Into<String>) {
        self.lock().name = name.into();
    }

    /// Whether the process is daemonic.
    #[must_use]
    pub fn daemon(&self) -> bool {
        self.lock().daemon
    }

    /// Sets the daemon flag; an error once started.
    pub fn set_daemon(&self, daemon: bool) -> Result<()> {
        let mut st = self.lock();
        if !matches!(st.phase, Phase::Initial(_)) {
            return Err(Error::AlreadyStarted);
        }
        st.daemon = daemon;
        Ok(())
    }

    /// The process's authkey.
    #[must_use]
    pub fn authkey(&self) -> AuthKey {
        self.lock().authkey.clone()
    }

    /// Sets the authkey the child will run with.
    pub fn set_authkey(&self, key: impl Into<AuthKey>) {
        self.lock().authkey = key.into();
    }
}

/// Python's `repr()` of a string: single quotes unless the text contains one.
pub(crate) fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

impl fmt::Display for Process {
    /// Python's `repr()`: `<Process name='Process-1' pid=1234 parent=1200 started>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut st = self.lock();
        let foreign = st.parent_pid != my_pid();
        let (pid, status, exitcode) = match &mut st.phase {
            Phase::Closed => (None, "closed", None),
            Phase::Initial(_) if foreign => (None, "unknown", None),
            Phase::Initial(_) => (None, "initial", None),
            Phase::Started(popen) if foreign => (Some(popen.pid()), "unknown", None),
            Phase::Started(popen) => match popen.poll() {
                Ok(Some(code)) => (Some(popen.pid()), "stopped", Some(code)),
                // Ended, its code taken by another reaper.
                Err(Error::ReapedElsewhere { .. }) => (Some(popen.pid()), "stopped", None),
                _ => (Some(popen.pid()), "started", None),
            },
        };
        write!(f, "<{} name={}", st.class, py_repr(&st.name))?;
        if let Some(pid) = pid {
            write!(f, " pid={pid}")?;
        }
        write!(f, " parent={} {status}", st.parent_pid)?;
        if let Some(code) = exitcode {
            write!(f, " exitcode={}", exitcode_name(code))?;
        }
        if st.daemon {
            f.write_str(" daemon")?;
        }
        f.write_str(">")
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_quotes_like_python() {
        assert_eq!(py_repr("Process-1"), "'Process-1'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'\""), "'a\\'\"'");
    }

    fn idle() {}

    #[test]
    fn initial_repr_and_daemon_flag() {
        let p = Process::builder(idle, ())
            .name("worker")
            .daemon(true)
            .build();
        assert_eq!(
            p.to_string(),
            format!("<Process name='worker' parent={} initial daemon>", my_pid())
        );
        assert!(p.pid().is_none() && p.exitcode().is_none() && !p.is_alive());
        assert!(matches!(p.join(), Err(Error::NotStarted)));
        assert!(matches!(p.terminate(), Err(Error::NotStarted)));
        p.close().unwrap();
        assert!(p.to_string().contains(" closed"));
        assert!(matches!(p.start(), Err(Error::Closed)));
    }
}
