//! Raw `fork` for tests that need a second process before the process crate exists.
//!
//! [`fork`] runs a closure in a forked child (which inherits every handle); [`fork_with`] also
//! sends a value to the child as a [`Connection`] message (descriptors by `SCM_RIGHTS`), so handles are rebuilt
//! from received descriptors as under spawn; [`spawn_test_child`] re-executes the test binary,
//! a fresh process that shares nothing but what it receives.
//!
//! ```no_run
//! let child = multiprocessing_tests::fork::fork(|| 7);
//! assert_eq!(child.wait(), 7);
//! ```

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};

use multiprocessing::Connection;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A forked child process.
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    reaped: bool,
}

/// Runs `f` in a forked child, which exits with `f`'s return value (101 if it panics).
pub fn fork(f: impl FnOnce() -> i32) -> Child {
    // SAFETY: the child only runs `f` and then `_exit`s, never returning into the test harness;
    // the heap's fork handlers keep shared state consistent.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
        multiprocessing::runtime::heap::release_before_exit();
        // SAFETY: ends the child without running the parent's atexit handlers or destructors.
        unsafe { libc::_exit(code) };
    }
    Child { pid, reaped: false }
}

/// Sends `value` to a forked child through a transfer context and runs `f` on what it receives.
pub fn fork_with<T: Serialize + DeserializeOwned>(value: &T, f: fn(T) -> i32) -> Child {
    let (parent_end, child_end) = UnixStream::pair().expect("socketpair");
    let child = fork(|| {
        let value: T = channel(&child_end).recv().expect("receive");
        f(value)
    });
    drop(child_end);
    send(&parent_end, value);
    child
}

/// Sends `value` as one message of the connection crate (descriptors attached).
fn send<T: Serialize>(sock: &UnixStream, value: &T) {
    channel(sock).send(value).expect("send");
}

/// A connection over a duplicate of `sock`: the one framing and descriptor passing of the
/// workspace. A receiving one must be kept for every message of the stream (it reads ahead).
fn channel(sock: &UnixStream) -> Connection {
    Connection::from_unix_stream(sock.try_clone().expect("dup the socket"))
}

impl Child {
    /// The child's process id.
    #[must_use]
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends SIGKILL (the child stays a zombie until [`wait`](Self::wait)).
    pub fn kill(&self) {
        // SAFETY: plain kill(2) on our own unreaped child.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
    }

    /// Waits for the child: its exit code, or 128 + the signal that killed it.
    pub fn wait(mut self) -> i32 {
        self.reap()
    }

    fn reap(&mut self) -> i32 {
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child with a valid status pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r == self.pid {
                break;
            }
            assert_eq!(
                std::io::Error::last_os_error().kind(),
                std::io::ErrorKind::Interrupted
            );
        }
        self.reaped = true;
        if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill();
            self.reap();
        }
    }
}

const CHILD_ENV: &str = "MP_TEST_CHILD_SOCKET";

/// In a test re-executed by [`spawn_test_child`]: receives its value and runs `f` on it, then
/// exits the process with `f`'s result. Returns normally when this is not such a child.
pub fn run_if_test_child<T: DeserializeOwned>(f: fn(T) -> i32) {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let sock = UnixStream::connect(&path).expect("connect to the parent test");
    // The family's authkey first, as the library's start methods hand it on: values that carry
    // code references are only accepted under it.
    let mut conn = channel(&sock);
    let key: multiprocessing::runtime::AuthKey = conn.recv().expect("receive the authkey");
    multiprocessing::runtime::identity::set_authkey(key);
    let value: T = conn.recv().expect("receive the value");
    let code = f(value);
    multiprocessing::runtime::heap::release_before_exit();
    let _ = (&sock).write_all(&[code as u8]);
    std::process::exit(code);
}

/// A re-executed copy of the test binary running one test as a child.
#[derive(Debug)]
pub struct TestChild {
    process: std::process::Child,
    sock: UnixStream,
    _dir: tempfile::TempDir,
}

/// Re-executes this test binary to run `test_name` (which must call [`run_if_test_child`]
/// first) and sends it `value` through a transfer context over a Unix socket.
pub fn spawn_test_child<T: Serialize>(test_name: &str, value: &T) -> TestChild {
    start_test_child(test_name, value, false)
}

/// As [`spawn_test_child`], but forks with `fork` (a `pre_exec` hook) rather than
/// `posix_spawn`, so the fork handlers run and the child's image before `exec` inherits every
/// heap block of this process.
pub fn spawn_test_child_by_fork<T: Serialize>(test_name: &str, value: &T) -> TestChild {
    start_test_child(test_name, value, true)
}

fn start_test_child<T: Serialize>(test_name: &str, value: &T, by_fork: bool) -> TestChild {
    let dir = tempfile::Builder::new()
        .prefix("mp-test-child-")
        .tempdir()
        .expect("temp dir");
    let path = dir.path().join("sock");
    let listener = UnixListener::bind(&path).expect("bind");
    let mut command = std::process::Command::new(std::env::current_exe().expect("current_exe"));
    command
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(std::process::Stdio::null());
    if by_fork {
        // SAFETY: the hook does nothing (it only makes std use `fork`).
        unsafe { std::os::unix::process::CommandExt::pre_exec(&mut command, || Ok(())) };
    }
    let process = command.spawn().expect("re-execute the test binary");
    let (sock, _) = listener.accept().expect("accept");
    send(
        &sock,
        &multiprocessing::runtime::identity::current().authkey,
    );
    send(&sock, value);
    TestChild {
        process,
        sock,
        _dir: dir,
    }
}

impl TestChild {
    /// Waits for the child's result code.
    pub fn wait(mut self) -> i32 {
        let mut code = [0u8; 1];
        let got = (&self.sock).read(&mut code).unwrap_or(0);
        let status = self.process.wait().expect("wait");
        if got == 1 {
            i32::from(code[0])
        } else {
            status.code().unwrap_or(255)
        }
    }
}
