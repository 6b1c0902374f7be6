//! Functions that cross processes (process targets, Barrier actions) are code references:
//! accepted only from the same executable and a holder of the family's authkey, refused with a
//! typed error before anything is called otherwise.

use std::sync::atomic::{AtomicU32, Ordering};

use multiprocessing::connection::Error;
use multiprocessing::{Barrier, Connection, ErrorKind, JoinHandle, StartMethod, get_context, pipe};
use multiprocessing_tests::per_method;

/// Counts the runs of [`mark`] in this process.
static MARKS: AtomicU32 = AtomicU32::new(0);

fn mark() {
    MARKS.fetch_add(1, Ordering::SeqCst);
}

/// Sends a one-party Barrier whose action is [`mark`].
fn send_barrier_with_action(mut conn: Connection) -> i32 {
    let barrier = Barrier::builder(1).action(mark).build().expect("barrier");
    i32::from(conn.send(&barrier).is_err())
}

fn recv_barrier_from(method: StartMethod, authkey: Option<&[u8]>) -> Result<Barrier, Error> {
    let (mut ours, theirs) = pipe(true).unwrap();
    let mut b = JoinHandle::builder(send_barrier_with_action, (theirs,))
        .context(get_context(method).as_process());
    if let Some(key) = authkey {
        b = b.authkey(key);
    }
    let child = b.spawn().unwrap();
    let got = ours.recv::<Barrier>();
    assert_eq!(child.join().unwrap(), 0);
    got
}

fn a_barrier_action_from_the_family_runs(method: StartMethod) {
    let barrier = recv_barrier_from(method, None).expect("same executable, same authkey");
    let before = MARKS.load(Ordering::SeqCst);
    barrier.wait().unwrap();
    assert_eq!(MARKS.load(Ordering::SeqCst), before + 1);
}

fn a_barrier_action_from_a_peer_without_the_authkey_is_refused(method: StartMethod) {
    let err = recv_barrier_from(method, Some(b"not the family's key"))
        .expect_err("a peer without our authkey cannot send us code");
    assert_eq!(err.kind(), ErrorKind::CodeRefused, "{err}");
    assert_eq!(MARKS.load(Ordering::SeqCst), 0, "nothing ran");
}

per_method!(
    a_barrier_action_from_the_family_runs,
    a_barrier_action_from_a_peer_without_the_authkey_is_refused,
);
