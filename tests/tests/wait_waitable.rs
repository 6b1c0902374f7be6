//! `connection::wait` over `Waitable` objects: buffered data seen without asking the kernel,
//! sentinels of children under each start method, listeners with a client, mixed objects, and
//! the edge timeouts.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use multiprocessing::connection::{WaitFd, Waitable};
use multiprocessing::runtime::transfer::TransferFd;
use multiprocessing::{Listener, StartMethod, get_context, pipe, wait};
use multiprocessing_tests::helpers::BOUND;
use multiprocessing_tests::per_method;

/// Ready by its own account, on a descriptor that never becomes readable.
struct ReadyWithoutKernel(OwnedFd);

impl Waitable for ReadyWithoutKernel {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
    fn is_ready(&self) -> bool {
        true
    }
}

#[test]
fn an_object_ready_by_its_own_account_ends_even_an_endless_wait() {
    let (r, _w) = std::io::pipe().unwrap();
    let idle = ReadyWithoutKernel(r.into());
    let start = Instant::now();
    let ready = wait(&[&idle], Some(Duration::MAX)).unwrap();
    assert_eq!(ready.len(), 1);
    assert!(start.elapsed() < BOUND);
}

#[test]
fn a_connections_buffered_message_is_seen_though_the_kernel_has_none() {
    let (mut a, mut b) = pipe(true).unwrap();
    b.send_bytes(b"one").unwrap();
    b.send_bytes(b"two").unwrap();
    // Wait until both frames are in the socket, so that one read takes them both.
    let (r, _w) = std::io::pipe().unwrap();
    let other = WaitFd(r);
    loop {
        let mut pending = 0i32;
        // SAFETY: FIONREAD on a socket we own, into a valid int.
        unsafe { libc::ioctl(a.as_raw_fd(), libc::FIONREAD, &mut pending) };
        if pending as usize >= 2 * (4 + 3) {
            break;
        }
        thread::yield_now();
    }
    assert_eq!(a.recv_bytes().unwrap(), b"one");
    // The kernel has nothing left for `a`: only its own buffer knows of "two". An endless wait
    // returns at once, with `a` alone (the idle pipe is only checked).
    let mixed: [&dyn Waitable; 2] = [&other, &a];
    let ready = wait(&mixed, None).unwrap();
    assert_eq!(ready.len(), 1);
    assert!(std::ptr::addr_eq(ready[0], &a));
    assert_eq!(a.recv_bytes().unwrap(), b"two");
    assert!(wait(&[&a], Some(Duration::ZERO)).unwrap().is_empty());
}

#[test]
fn zero_only_checks_and_max_waits_without_overflow() {
    let (a, mut b) = pipe(true).unwrap();
    let start = Instant::now();
    assert!(wait(&[&a], Some(Duration::ZERO)).unwrap().is_empty());
    assert!(start.elapsed() < BOUND);
    let sender = thread::spawn(move || {
        b.send_bytes(b"late").unwrap();
        b
    });
    let ready = wait(&[&a], Some(Duration::MAX)).unwrap();
    assert_eq!(ready.len(), 1);
    let _b = sender.join().unwrap();
}

#[test]
fn listeners_connections_and_descriptors_mix() {
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let (a, _b) = pipe(true).unwrap();
    let (r, mut w) = std::io::pipe().unwrap();
    let mixed: [&dyn Waitable; 3] = [&a, &listener, &r];
    assert!(wait(&mixed, Some(Duration::ZERO)).unwrap().is_empty());
    let _client = multiprocessing::client(listener.address(), None).unwrap();
    let ready = wait(&mixed, Some(BOUND)).unwrap();
    assert_eq!(ready.len(), 1);
    assert!(std::ptr::addr_eq(ready[0], &listener));
    w.write_all(b"x").unwrap();
    assert_eq!(wait(&mixed, Some(BOUND)).unwrap().len(), 2);
    listener.accept().unwrap();
    let ready = wait(&mixed, Some(BOUND)).unwrap();
    assert_eq!(ready.len(), 1);
    assert!(std::ptr::addr_eq(ready[0], &r));
}

/// Blocks until the test writes a byte to (or closes) the other end of `chan`.
fn block_until_released(chan: TransferFd) {
    let mut s = UnixStream::from(chan.into_inner());
    let _ = s.read(&mut [0u8; 1]);
}

fn a_sentinel_is_ready_once_its_child_exits(m: StartMethod) {
    let (mut release, chan) = UnixStream::pair().unwrap();
    let chan = TransferFd::from(OwnedFd::from(chan));
    let p = get_context(m)
        .process(block_until_released, (chan,))
        .start()
        .unwrap();
    let sentinel = p.sentinel().unwrap();
    let (idle, _keep) = pipe(true).unwrap();
    let mixed: [&dyn Waitable; 2] = [&idle, &sentinel];
    assert!(wait(&mixed, Some(Duration::ZERO)).unwrap().is_empty());
    release.write_all(b"x").unwrap();
    let ready = wait(&mixed, Some(BOUND)).unwrap();
    assert_eq!(ready.len(), 1);
    assert!(std::ptr::addr_eq(ready[0], &sentinel));
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(wait(&[&sentinel], Some(Duration::ZERO)).unwrap().len(), 1);
}

per_method!(a_sentinel_is_ready_once_its_child_exits);
