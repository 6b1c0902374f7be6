//! Shared types of one's own that misbehave, and the server answering for them: a `Drop` that
//! panics (when a proxy lets go, when a ticket expires), a generator whose iterator panics, a
//! registered function that uses a proxy to its own manager. The fault is the type's; the
//! server reports it and goes on serving everyone, releasing what each client held. Also
//! `#[managed]` on a type whose methods are named as the proxy's own and whose module shadows
//! the names the generated code uses.

use std::time::{Duration, Instant};

use multiprocessing::connection::{Connection, pipe};
use multiprocessing::managers::{
    BaseManager, Caller, Exception, Generator, GeneratorProxy, Object, Outcome, Raised, Shared,
    managed,
};
use multiprocessing::{StartMethod, get_context};
use multiprocessing_tests::helpers::eventually;

/// A value whose `Drop` panics.
pub struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the bomb went off in drop");
    }
}

#[managed]
impl Bomb {
    #[constructor]
    fn new() -> Self {
        Bomb
    }

    /// Always `true`.
    pub fn armed(&self) -> bool {
        true
    }
}

/// A hand-written shared type whose `value` panics: the server walks it (its `references`,
/// by default read from its value) once it was given a proxy to hold.
struct Fragile;

impl Shared for Fragile {
    fn call(&mut self, _: &str, _: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        Ok(Outcome::Return(Object::None))
    }

    fn value(&self) -> Object {
        panic!("the fragile value broke");
    }
}

fn fragile(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Fragile))
}

/// A hand-written shared type that counts how often the server reads its value; it exposes
/// only `reads`.
#[derive(Default)]
struct Watched {
    reads: std::cell::Cell<i128>,
}

impl Shared for Watched {
    fn call(&mut self, method: &str, _: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        match method {
            "reads" => Ok(Outcome::Return(Object::Int(self.reads.get()))),
            _ => Ok(Outcome::Return(Object::None)),
        }
    }

    fn value(&self) -> Object {
        self.reads.set(self.reads.get() + 1);
        Object::None
    }

    fn exposed(&self) -> Option<&[&'static str]> {
        Some(&["reads"])
    }
}

fn watched(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Watched::default()))
}

/// A generator whose iterator yields 1, panics at its second item, and would yield 3, 4, ..
/// if asked again.
fn breaks_at_two(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    let mut n = 0u32;
    Ok(Box::new(Generator::new(std::iter::from_fn(move || {
        n += 1;
        assert!(n != 2, "the generator broke at its second item");
        Some(n)
    }))))
}

/// A constructor that connects to the manager at the address it is given (its own): what it
/// got comes back as its error.
fn connects_to_itself(args: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    let [Object::Str(address)] = args.as_slice() else {
        return Err(Raised::new(Exception::TypeError, "one address"));
    };
    let address = address
        .parse()
        .map_err(|_| Raised::new(Exception::ValueError, "not an address"))?;
    let r = BaseManager::builder()
        .address(address)
        .connect()
        .and_then(|m| m.dict().map(drop));
    Err(Raised::new(
        Exception::RuntimeError,
        format!("connecting gave {r:?}"),
    ))
}

/// A generator whose first item is what using a proxy to its own manager (at the address
/// given) gave.
fn iterates_through_itself(args: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    let [Object::Str(address)] = args.as_slice() else {
        return Err(Raised::new(Exception::TypeError, "one address"));
    };
    let address: String = address.clone();
    Ok(Box::new(Generator::new(std::iter::once_with(move || {
        let r = BaseManager::builder()
            .address(address.parse().expect("an address"))
            .connect()
            .and_then(|m| m.dict().map(drop));
        format!("{r:?}")
    }))))
}

fn started(ticket_lifetime: Duration) -> BaseManager {
    get_context(StartMethod::Fork)
        .manager_builder()
        .register_type::<Bomb>("Bomb")
        .register("breaks_at_two", breaks_at_two)
        .register("fragile", fragile)
        .register("watched", watched)
        .register("connects_to_itself", connects_to_itself)
        .register("iterates_through_itself", iterates_through_itself)
        .ticket_lifetime(ticket_lifetime)
        .start()
        .unwrap()
}

/// A child's side: makes a dict, then a bomb it lets go of (its `Drop` panics in the server),
/// and exits still holding the dict.
fn bomb_then_exit_holding_a_dict(address: String) {
    let m = BaseManager::builder()
        .address(address.parse().unwrap())
        .connect()
        .unwrap();
    let d = m.dict().unwrap();
    let b: BombProxy = m.create_as("Bomb", Vec::new()).unwrap();
    assert!(b.armed().unwrap());
    drop(b);
    // Still served after the panic.
    d.set("k", 1).unwrap();
    // The process ends holding the dict: the server releases it with the session.
    std::mem::forget(d);
}

#[test]
fn a_drop_that_panics_when_a_proxy_lets_go_leaves_its_clients_session_whole() {
    let m = started(Duration::from_secs(300));
    let base = m.number_of_objects().unwrap();
    let ctx = get_context(StartMethod::Fork);
    ctx.start(bomb_then_exit_holding_a_dict, (m.address().to_string(),))
        .unwrap()
        .join()
        .unwrap();
    eventually("the dict of a client that exited is freed", || {
        m.number_of_objects().unwrap() == base
    });
    m.dict().unwrap();
}

/// A child's side: hands a proxy to a fragile object (so the server walks it when it looks for
/// live objects), then lets go of another object, and exits holding both.
fn walk_a_fragile_object_then_exit(address: String) {
    let m = BaseManager::builder()
        .address(address.parse().unwrap())
        .connect()
        .unwrap();
    let f = m.create("fragile", Vec::new()).unwrap();
    let d = m.dict().unwrap();
    f.call_method("hold", vec![d.to_object()]).unwrap();
    drop(m.dict().unwrap());
    // Still served after the walk.
    d.set("k", 1).unwrap();
    std::mem::forget((f, d));
}

#[test]
fn a_value_that_panics_while_the_server_looks_for_live_objects_leaks_nothing() {
    let m = started(Duration::from_secs(300));
    let base = m.number_of_objects().unwrap();
    get_context(StartMethod::Fork)
        .start(walk_a_fragile_object_then_exit, (m.address().to_string(),))
        .unwrap()
        .join()
        .unwrap();
    eventually("the objects of a client that exited are freed", || {
        m.number_of_objects().unwrap() == base
    });
    m.dict().unwrap();
}

#[test]
fn a_refused_call_with_a_proxy_argument_does_not_make_its_object_a_holder() {
    let m = started(Duration::from_secs(300));
    let w = m.create("watched", Vec::new()).unwrap();
    let d = m.dict().unwrap();
    // Not exposed: the type never sees the call, so it cannot have kept the proxy.
    let e = w.call_method("keep", vec![d.to_object()]).unwrap_err();
    assert_eq!(e.exception(), Some(Exception::AttributeError));
    // Letting go of an object: a holder would be walked (its value read) to find live ones.
    drop(m.dict().unwrap());
    assert_eq!(
        w.call_method("reads", Vec::new()).unwrap(),
        Object::Int(0),
        "a refused call made the object a holder, walked at every release"
    );
}

#[test]
fn a_drop_that_panics_when_a_ticket_expires_does_not_stop_the_server() {
    let m = started(Duration::from_millis(50));
    let base = m.number_of_objects().unwrap();
    let b: BombProxy = m.create_as("Bomb", Vec::new()).unwrap();
    // A reference lent to a receiver that never claims it: the ticket holds the bomb.
    serde_json::to_string(&b).unwrap();
    drop(b);
    assert_eq!(m.number_of_objects().unwrap(), base + 1);
    eventually("the bomb is freed when its ticket expires", || {
        m.number_of_objects().unwrap() == base
    });
    m.dict().unwrap().set("still", "serving").unwrap();
}

/// A child's side: the next item of a generator, or its error as text.
fn next_item(mut g: GeneratorProxy<u32>) -> Option<Result<u32, String>> {
    g.next().map(|r| r.map_err(|e| e.to_string()))
}

#[test]
fn a_generator_whose_iterator_panicked_is_finished_for_every_process() {
    let m = started(Duration::from_secs(300));
    let mut g: GeneratorProxy<u32> = m.create_as("breaks_at_two", Vec::new()).unwrap();
    assert_eq!(g.next().unwrap().unwrap(), 1);
    let e = g.next().unwrap().unwrap_err();
    assert!(
        e.to_string()
            .contains("the generator broke at its second item"),
        "{e}"
    );
    assert!(g.next().is_none());
    // Another process's proxy: the generator raised, so it is over (Python's generator that
    // raised), not polled again mid-way through its broken state.
    let ctx = get_context(StartMethod::Fork);
    let theirs = ctx.start(next_item, (g.clone(),)).unwrap().join().unwrap();
    assert_eq!(theirs, None);
}

/// Python's `count()`, shared.
fn counter(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Generator::new(0u64..)))
}

/// A child's side: takes three items, says which, and waits to be killed mid-iteration.
fn take_three_and_wait(mut g: GeneratorProxy<u64>, mut ready: Connection) {
    let taken: Vec<u64> = g.by_ref().take(3).map(Result::unwrap).collect();
    ready.send(&taken).unwrap();
    // Blocks until killed (the parent never sends).
    let _ = ready.recv::<()>();
}

#[test]
fn a_client_killed_mid_iteration_leaves_the_generator_to_the_others() {
    let m = get_context(StartMethod::Fork)
        .manager_builder()
        .register("counter", counter)
        .start()
        .unwrap();
    let base = m.number_of_objects().unwrap();
    let mut g: GeneratorProxy<u64> = m.create_as("counter", Vec::new()).unwrap();
    assert_eq!(g.next().unwrap().unwrap(), 0);
    let (mut ready, theirs) = pipe(true).unwrap();
    let p = get_context(StartMethod::Fork)
        .process(take_three_and_wait, (g.clone(), theirs))
        .start()
        .unwrap();
    let taken: Vec<u64> = ready.recv().unwrap();
    assert_eq!(taken, [1, 2, 3]);
    p.kill().unwrap();
    p.join().unwrap();
    // Each item once: this process goes on where the killed one stopped.
    assert_eq!(g.next().unwrap().unwrap(), 4);
    drop(g);
    eventually("the generator is freed once both processes let go", || {
        m.number_of_objects().unwrap() == base
    });
}

#[test]
fn a_registered_function_using_a_proxy_to_its_own_manager_fails_at_once() {
    let m = started(Duration::from_secs(300));
    let address = m.address().to_string();
    // A constructor that is not `#[managed]`.
    let t = Instant::now();
    let e = m
        .create("connects_to_itself", vec![address.clone().into()])
        .unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "the server stalled for {:?}",
        t.elapsed()
    );
    assert!(e.to_string().contains("one call at a time"), "{e}");
    // A generator's iterator.
    let mut g: GeneratorProxy<String> = m
        .create_as("iterates_through_itself", vec![address.into()])
        .unwrap();
    let t = Instant::now();
    let item = g.next().unwrap().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "the server stalled for {:?}",
        t.elapsed()
    );
    assert!(item.contains("one call at a time"), "{item}");
    m.dict().unwrap();
}

/// A `#[managed]` type away from the crate root, in a module whose own names shadow the ones
/// the generated code uses, with methods named as the proxy's own and as the `Shared` trait's.
mod shadowed {
    #![allow(dead_code)]

    use multiprocessing::managers::managed;
    use serde::{Deserialize, Serialize};

    /// The module's own `Result`, `Object`, `Proxy`, `Outcome`, `Raised` and `Shared`.
    pub(crate) type Result<T> = std::result::Result<T, std::string::String>;
    pub(crate) struct Object;
    pub(crate) struct Proxy;
    pub(crate) struct Outcome;
    pub(crate) struct Raised;
    pub(crate) trait Shared {}

    /// A cell holding a number.
    #[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Cell {
        pub n: i64,
    }

    #[managed]
    impl Cell {
        #[constructor]
        fn new() -> Self {
            Cell::default()
        }

        /// Adds `n` (named as `Shared::call`).
        pub fn call(&mut self, n: i64) -> i64 {
            self.n += n;
            self.n
        }

        /// The number (named as `Shared::value`).
        pub fn value(&self) -> i64 {
            self.n
        }

        /// Named as `Shared::exposed`.
        pub fn exposed(&self) -> Vec<std::string::String> {
            vec!["mine".into()]
        }

        /// Named as `Shared::repr` and `Proxy::repr`.
        pub fn repr(&self) -> std::string::String {
            format!("Cell({})", self.n)
        }

        /// Named as `Clone::clone`: a copy of the value.
        pub fn clone(&self) -> Self {
            Cell { n: self.n }
        }

        /// Named as `Deref::deref`.
        pub fn deref(&self) -> i64 {
            -self.n
        }

        /// Named as `Drop::drop`; answers nothing.
        pub fn drop(&mut self) {
            self.n = 0;
        }

        /// Named as `Proxy::typeid`.
        pub fn typeid(&self) -> std::string::String {
            "not the proxy's".into()
        }

        /// Takes `Self` by reference, answers the module's `Result` of `Self`.
        pub fn merged(&self, other: &Self) -> Result<Self> {
            self.n
                .checked_add(other.n)
                .map(|n| Cell { n })
                .ok_or_else(|| "overflow".to_string())
        }

        /// Visible in the crate only: not exposed by default.
        pub(crate) fn crate_only(&self) -> i64 {
            self.n * 10
        }
    }
}

/// A child's side: the proxy's methods named as its own, called from another process.
fn use_shadowed(c: shadowed::CellProxy) -> (i64, i64, i64, String, String) {
    (
        c.call(5).unwrap(),
        c.value().unwrap(),
        c.deref().unwrap(),
        c.repr().unwrap(),
        c.typeid().unwrap(),
    )
}

#[test]
fn managed_methods_named_as_the_proxys_own_are_the_types() {
    let m = get_context(StartMethod::Fork)
        .manager_builder()
        .register_type::<shadowed::Cell>("Cell")
        .start()
        .unwrap();
    let c: shadowed::CellProxy = m.create_as("Cell", Vec::new()).unwrap();
    let ctx = get_context(StartMethod::Fork);
    let got = ctx
        // The proxy's `Clone`, as its inherent `clone` is the type's.
        .start(use_shadowed, (Clone::clone(&c),))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(
        got,
        (
            5,
            5,
            -5,
            "Cell(5)".to_string(),
            "not the proxy's".to_string()
        )
    );
    assert_eq!(c.exposed().unwrap(), ["mine"]);
    assert_eq!(c.clone().unwrap(), shadowed::Cell { n: 5 });
    assert_eq!(
        c.merged(&shadowed::Cell { n: 2 }).unwrap(),
        shadowed::Cell { n: 7 }
    );
    let e = c.merged(&shadowed::Cell { n: i64::MAX }).unwrap_err();
    assert_eq!(e.to_string(), "RuntimeError: overflow");
    c.drop().unwrap();
    assert_eq!(c.value().unwrap(), 0);
    // The proxy's own, through its `Proxy`.
    assert_eq!(
        multiprocessing::managers::ProxyType::as_proxy(&c).typeid(),
        "Cell"
    );
    // Not `pub`: refused by the server.
    let e = c.crate_only().unwrap_err();
    assert_eq!(e.exception(), Some(Exception::AttributeError));
}
