//! A `#[managed]` type of our own in a manager, used from child processes under each start
//! method: counts from two processes, `&mut self` state, a method's `Err` and a panic carried
//! back to the caller (the panic with its message and location) while the server goes on
//! serving, `#[returns_proxy]` giving the typed proxy of another managed type, an unknown
//! method's error naming it, the default exposed list, and a proxy argument refused at once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use multiprocessing::managers::{
    BaseManager, DictProxy, Error, Exception, Registration, Shared, managed,
};
use multiprocessing::{ErrorKind, StartMethod, get_context};
use multiprocessing_tests::per_method;
use serde::Serialize;

/// Counts per name, shared by processes.
#[derive(Debug, Default, Serialize)]
pub struct Tally {
    counts: BTreeMap<String, u64>,
    total: u64,
}

#[managed]
impl Tally {
    #[constructor]
    fn new(start: u64) -> Self {
        Tally {
            counts: BTreeMap::new(),
            total: start,
        }
    }

    /// Counts `n` for `who`; the new total.
    pub fn add(&mut self, who: &str, n: u64) -> u64 {
        *self.counts.entry(who.to_string()).or_default() += n;
        self.total += n;
        self.total
    }

    /// What `who` counted.
    pub fn count(&self, who: &str) -> u64 {
        self.counts.get(who).copied().unwrap_or(0)
    }

    /// The total, with the start.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Takes `n` back from `who`, who must have counted that many.
    pub fn take(&mut self, who: &str, n: u64) -> Result<u64, String> {
        let c = self.counts.entry(who.to_string()).or_default();
        *c = c
            .checked_sub(n)
            .ok_or_else(|| format!("{who} counted only {c}, not {n}"))?;
        self.total -= n;
        Ok(*c)
    }

    /// The line of the panic in `explode`.
    const EXPLODE_LINE: u32 = line!() + 4;

    /// Panics, naming `why`.
    pub fn explode(&self, why: &str) -> u64 {
        panic!("the tally exploded: {why}")
    }

    /// A copy of the counts, shared as a new object.
    #[returns_proxy(typeid = "Snapshot")]
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            counts: self.counts.clone(),
        }
    }

    /// How many keys a shared dict has: a proxy inside a method would wait for the server
    /// that runs the method, so it is refused at once.
    pub fn keys_of(&self, d: DictProxy) -> usize {
        d.len().unwrap_or(0)
    }

    /// Not exposed by default: its name starts with `_`.
    pub fn _h(&self) -> u64 {
        self.counts.len() as u64
    }

    /// Not exposed by default: not `pub`.
    fn private(&self) -> u64 {
        self.total * 2
    }
}

/// Counts frozen at some time, shared by [`Tally::snapshot`].
#[derive(Debug, Serialize)]
pub struct Snapshot {
    counts: BTreeMap<String, u64>,
}

#[managed]
impl Snapshot {
    /// What `who` had counted.
    pub fn count(&self, who: &str) -> u64 {
        self.counts.get(who).copied().unwrap_or(0)
    }

    /// Adds one to every count; the counts.
    pub fn bump(&mut self) -> BTreeMap<String, u64> {
        self.counts.values_mut().for_each(|c| *c += 1);
        self.counts.clone()
    }
}

fn started(method: StartMethod) -> BaseManager {
    get_context(method)
        .manager_builder()
        .register_type::<Tally>("Tally")
        .register_with(
            "Snapshot",
            Registration::without_constructor().create_method(false),
        )
        .start()
        .unwrap()
}

/// A child's side: counts `n` ones for `who`.
fn count_up(t: TallyProxy, who: String, n: u64) -> u64 {
    for _ in 0..n {
        t.add(&who, 1).unwrap();
    }
    t.count(&who).unwrap()
}

fn two_processes_count_into_one_tally(method: StartMethod) {
    let m = started(method);
    let ctx = get_context(method);
    let t: TallyProxy = m.create_as("Tally", vec![100.into()]).unwrap();
    let children: Vec<_> = [("a", 30), ("b", 20)]
        .into_iter()
        .map(|(who, n)| {
            ctx.start(count_up, (t.clone(), who.to_string(), n))
                .unwrap()
        })
        .collect();
    let counted: Vec<u64> = children.into_iter().map(|c| c.join().unwrap()).collect();
    assert_eq!(counted, [30, 20]);
    assert_eq!(t.count("a").unwrap(), 30);
    assert_eq!(t.count("b").unwrap(), 20);
    assert_eq!(t.total().unwrap(), 150);
    // The value, as serde sees it.
    assert_eq!(
        t.to_string(),
        "{'counts': {'a': 30, 'b': 20}, 'total': 150}"
    );
}

/// A child's side: a method's `Err`, then a panic, then a call that works; what each gave (an
/// error as its message and its kind's name).
fn fail_then_go_on(t: TallyProxy) -> (String, String, String, String, u64) {
    let err = t.take("nobody", 1).unwrap_err();
    let panicked = t.explode("on purpose").unwrap_err();
    let total = t.add("after", 1).unwrap();
    (
        err.to_string(),
        format!("{:?}", err.kind()),
        panicked.to_string(),
        format!("{:?}", panicked.kind()),
        total,
    )
}

fn errors_and_panics_come_back_and_the_server_goes_on(method: StartMethod) {
    let m = started(method);
    let ctx = get_context(method);
    let t: TallyProxy = m.create_as("Tally", vec![0.into()]).unwrap();
    let (err, err_kind, panicked, panic_kind, total) = ctx
        .start(fail_then_go_on, (t.clone(),))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(err, "RuntimeError: nobody counted only 0, not 1");
    assert_eq!(err_kind, format!("{:?}", ErrorKind::Remote));
    assert!(
        panicked.contains("the tally exploded: on purpose"),
        "{panicked}"
    );
    assert!(
        panicked.contains(&format!("managers_custom.rs:{}:", Tally::EXPLODE_LINE)),
        "the panic's location: {panicked}"
    );
    assert_eq!(panic_kind, format!("{:?}", ErrorKind::Remote));
    assert_eq!(total, 1);
    // The failed `take` changed nothing; the server still serves this process too.
    assert_eq!(t.add("after", 2).unwrap(), 3);
    assert_eq!(t.take("after", 3).unwrap(), 0);
    assert!(matches!(
        t.take("after", 1),
        Err(Error::Raised(r)) if r.exception == Exception::RuntimeError
    ));
}

/// A child's side: bumps the snapshot it was given.
fn bump(s: SnapshotProxy) -> BTreeMap<String, u64> {
    s.bump().unwrap()
}

fn returns_proxy_gives_a_typed_proxy_to_a_new_object(method: StartMethod) {
    let m = started(method);
    let ctx = get_context(method);
    let t: TallyProxy = m.create_as("Tally", vec![0.into()]).unwrap();
    t.add("a", 2).unwrap();
    let before = m.number_of_objects().unwrap();
    let s: SnapshotProxy = t.snapshot().unwrap();
    assert_eq!(s.typeid(), "Snapshot");
    assert_eq!(m.number_of_objects().unwrap(), before + 1);
    let bumped = ctx.start(bump, (s.clone(),)).unwrap().join().unwrap();
    assert_eq!(bumped, BTreeMap::from([("a".to_string(), 3)]));
    // The snapshot is its own object: the tally did not change.
    assert_eq!(s.count("a").unwrap(), 3);
    assert_eq!(t.count("a").unwrap(), 2);
    // A typeid made only by methods is not creatable by name.
    assert!(m.create("Snapshot", Vec::new()).is_err());
    drop(s);
    assert_eq!(m.number_of_objects().unwrap(), before);
}

per_method!(
    two_processes_count_into_one_tally,
    errors_and_panics_come_back_and_the_server_goes_on,
    returns_proxy_gives_a_typed_proxy_to_a_new_object,
);

#[test]
fn an_unknown_method_or_bad_arguments_are_errors_naming_them() {
    let m = started(StartMethod::Fork);
    let t: TallyProxy = m.create_as("Tally", vec![0.into()]).unwrap();
    // Python's AttributeError, naming the method (the type's own wording, or the server's for
    // a method outside the exposed list).
    let e = t.call_method("nope", Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(e.exception(), Some(Exception::AttributeError));
    assert!(e.to_string().contains("'nope'"), "{e}");
    let e = t.call_method("add", vec!["a".into()]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        e.to_string(),
        "TypeError: add() missing 1 required positional argument: 'n'"
    );
    let e = t.call_method("add", vec![1.into(), 1.into()]).unwrap_err();
    assert_eq!(e.exception(), Some(Exception::TypeError));
    assert!(e.to_string().contains("add() argument 'who'"), "{e}");
    let e = m.create("Tally", Vec::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "TypeError: Tally::new() missing 1 required positional argument: 'start'"
    );
}

#[test]
fn the_default_exposed_list_leaves_out_underscored_and_private_methods() {
    let t = Tally::new(0);
    let mut exposed = t.exposed().unwrap().to_vec();
    exposed.sort_unstable();
    assert_eq!(
        exposed,
        [
            "add", "count", "explode", "keys_of", "snapshot", "take", "total"
        ]
    );
    // A registration may expose them, as Python's `exposed=('_h',)` does.
    let m = get_context(StartMethod::Fork)
        .manager_builder()
        .register_with(
            "Tally",
            Registration::of::<Tally>().exposed(["_h", "private", "add"]),
        )
        .start()
        .unwrap();
    let t: TallyProxy = m.create_as("Tally", vec![5.into()]).unwrap();
    t.add("a", 1).unwrap();
    assert_eq!(t._h().unwrap(), 1);
    assert_eq!(t.private().unwrap(), 12);
}

#[test]
fn a_proxy_argument_is_refused_at_once_and_the_server_goes_on() {
    let m = started(StartMethod::Fork);
    let t: TallyProxy = m.create_as("Tally", vec![0.into()]).unwrap();
    let d = m.dict().unwrap();
    let started = Instant::now();
    let e = t.keys_of(d).unwrap_err();
    // Refused, not a wait for the connection timeout (30 s) with the server stalled.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(e.exception(), Some(Exception::TypeError));
    assert!(e.to_string().contains("keys_of() argument 'd'"), "{e}");
    assert!(e.to_string().contains("one call at a time"), "{e}");
    assert_eq!(t.add("a", 1).unwrap(), 1);
}
