//! Process identity: the name, place in the process tree and authkey of the running process.
//!
//! This is the state behind Python's `current_process()`: the main process is `MainProcess`
//! with a random authkey; the process crate installs a child's identity when it starts one.
//!
//! ```
//! use multiprocessing_core::identity;
//! let me = identity::current();
//! assert_eq!(me.name, "MainProcess");
//! assert!(me.parent.is_none());
//! ```

use serde::{Deserialize, Serialize};

use crate::AuthKey;
use crate::fork::ForkMutex;

/// Name, pid and start time of a parent process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentInfo {
    /// The parent's name.
    pub name: String,
    /// The parent's process id.
    pub pid: u32,
    /// The parent's start time ([`owner::Owner::start`](crate::owner::Owner::start), `0` when
    /// unknown): tells the parent from a later process given the same pid.
    pub start: u64,
}

/// Who the running process is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Identity {
    /// `MainProcess`, `Process-1`, `Process-1:2`, or a name the user chose.
    pub name: String,
    /// Position in the process tree: empty for the main process, `[1, 2]` for `Process-1:2`.
    pub path: Vec<u32>,
    /// The key used to authenticate with other processes of this program.
    pub authkey: AuthKey,
    /// Whether this process is daemonic (it may not start children).
    pub daemon: bool,
    /// The parent process, `None` in the main process.
    pub parent: Option<ParentInfo>,
}

pub(crate) struct State {
    identity: Identity,
    /// How many children this process has numbered so far.
    children: u32,
}

/// Held across `fork()` by the fork registry (see [`fork`](crate::fork)): a thread that logs
/// (the logger prints the process name) while another forks cannot leave it locked in the
/// child.
pub(crate) static STATE: ForkMutex<Option<State>> = ForkMutex::new(None);

/// Makes the main process's identity if there is none yet.
fn init(slot: &mut Option<State>) -> &mut State {
    slot.get_or_insert_with(|| State {
        identity: Identity {
            name: "MainProcess".into(),
            path: Vec::new(),
            authkey: AuthKey::random(),
            daemon: false,
            parent: None,
        },
        children: 0,
    })
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    f(init(&mut STATE.lock()))
}

/// Makes the running process's identity now if it has none yet (the main process draws its
/// random authkey on first use), so that processes forked afterwards share it.
pub fn ensure_initialized() {
    with_state(|_| ());
}

/// A snapshot of the running process's identity.
#[must_use]
pub fn current() -> Identity {
    with_state(|s| s.identity.clone())
}

/// Installs a child's identity; its own child counter starts again from one.
pub fn set_current(identity: Identity) {
    // Not through `with_state`: a fresh child (the forkserver's) has no identity yet, and
    // making the main process's default would draw a random authkey only to discard it.
    let mut guard = STATE.lock();
    *guard = Some(State {
        identity,
        children: 0,
    });
}

/// [`set_current`] for a child just made by `fork`: the inherited identity is not freed.
///
/// Freeing it would write to the allocator's pages, each of which the kernel then copies for
/// the child; the copy is private to the child and goes away with it.
pub fn set_current_in_forked_child(identity: Identity) {
    let mut guard = STATE.lock();
    std::mem::forget(guard.replace(State {
        identity,
        children: 0,
    }));
}

/// Renames the running process.
pub fn set_name(name: impl Into<String>) {
    let name = name.into();
    with_state(|s| s.identity.name = name);
}

/// Replaces the running process's authkey (children started later inherit it).
pub fn set_authkey(key: AuthKey) {
    with_state(|s| s.identity.authkey = key);
}

/// Numbers the next child: its tree path and its default name `Process-N1:N2:...`.
#[must_use]
pub fn next_child() -> (Vec<u32>, String) {
    with_state(|s| {
        s.children += 1;
        let mut path = s.identity.path.clone();
        path.push(s.children);
        let digits: Vec<String> = path.iter().map(u32::to_string).collect();
        (path, format!("Process-{}", digits.join(":")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_are_numbered_below_their_parent() {
        set_current(Identity {
            name: "Process-3".into(),
            path: vec![3],
            authkey: AuthKey::new(b"k".to_vec()),
            daemon: false,
            parent: Some(ParentInfo {
                name: "MainProcess".into(),
                pid: 1,
                start: 0,
            }),
        });
        assert_eq!(next_child(), (vec![3, 1], "Process-3:1".to_string()));
        assert_eq!(next_child(), (vec![3, 2], "Process-3:2".to_string()));
        assert_eq!(current().authkey.as_bytes(), b"k");
    }
}
