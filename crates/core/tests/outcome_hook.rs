//! `Outcome::catch`'s panic hook chains to the user's hook and yields to one set later.
//!
//! One test in its own binary: the panic hook is process-wide.

use std::panic;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use multiprocessing_core::outcome::Outcome;

#[test]
fn the_hook_chains_to_the_users_and_yields_to_a_later_one() {
    let earlier = Arc::new(AtomicUsize::new(0));
    let seen = earlier.clone();
    panic::set_hook(Box::new(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    }));

    let out: Outcome<()> = Outcome::catch(|| panic!("first"));
    let info = out.into_result().unwrap_err();
    assert_eq!(info.location.unwrap().file, file!());
    assert_eq!(
        earlier.load(Ordering::SeqCst),
        1,
        "the user's hook still runs"
    );

    // A panic outside `catch` goes to the user's hook as before, and records nothing.
    let _ = panic::catch_unwind(|| panic!("plain"));
    assert_eq!(earlier.load(Ordering::SeqCst), 2);

    // A hook set later replaces ours: panics still come back, without a location.
    let later = Arc::new(AtomicUsize::new(0));
    let seen = later.clone();
    panic::set_hook(Box::new(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    }));
    let out: Outcome<()> = Outcome::catch(|| panic!("second"));
    let info = out.into_result().unwrap_err();
    assert_eq!((info.message.as_str(), info.location), ("second", None));
    assert_eq!(later.load(Ordering::SeqCst), 1);
    assert_eq!(earlier.load(Ordering::SeqCst), 2);
    drop(panic::take_hook());
}
