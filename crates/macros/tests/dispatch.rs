//! What `#[managed]` generates, called directly (no manager): the dispatch by name, argument
//! decoding and its errors, results and raised errors, the default exposed list, the value,
//! the constructor, and a proxy whose methods keep the original signatures.

use multiprocessing_managers::{
    Caller, Construct, Exception, Managed, Object, Outcome, ProxyType, Raised, Shared, managed,
};
use serde::{Deserialize, Serialize};

/// A counter with a log.
#[derive(Debug, Default, Serialize)]
pub struct Counter {
    n: i64,
    log: Vec<String>,
}

/// An argument passed by reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    x: i32,
    y: i32,
}

#[managed]
impl Counter {
    /// Makes a counter starting at `start`.
    #[constructor]
    fn new(start: i64) -> Self {
        Counter {
            n: start,
            log: Vec::new(),
        }
    }

    /// Adds `by`, returns the new count.
    pub fn add(&mut self, by: i64) -> i64 {
        self.n += by;
        self.n
    }

    /// The count.
    pub fn get(&self) -> i64 {
        self.n
    }

    /// Logs a note with borrowed arguments.
    pub fn note(&mut self, text: &str, tags: &[String], at: &Point) {
        self.log.push(format!("{text} {tags:?} {at:?}"));
    }

    /// The count divided by `d`, or an error.
    pub fn checked(&self, d: i64) -> Result<i64, String> {
        self.n
            .checked_div(d)
            .ok_or_else(|| "division by zero".to_string())
    }

    /// Always a `KeyError`.
    pub fn key(&self, k: String) -> Result<(), Raised> {
        Err(Raised::new(Exception::KeyError, format!("'{k}'")))
    }

    /// A method with a keyword's name.
    pub fn r#type(&self) -> String {
        "counter".into()
    }

    /// A copy, shared as a new object.
    #[returns_proxy(typeid = "Counter")]
    pub fn fork(&self) -> Counter {
        Counter {
            n: self.n,
            log: Vec::new(),
        }
    }

    /// Dispatched, not exposed by default.
    pub fn _h(&self) -> i64 {
        -1
    }

    fn private(&self) -> i64 {
        -2
    }

    #[exposed]
    fn shown(&self) -> i64 {
        -3
    }

    /// Not dispatched at all.
    #[skip]
    pub fn not_dispatched<T: Into<i64>>(&self, x: T) -> i64 {
        x.into()
    }

    /// Associated functions are not methods of the shared object.
    pub fn helper() -> i64 {
        0
    }
}

/// A type without a serde form.
pub struct Opaque;

#[managed(proxy = Hidden)]
impl Opaque {
    /// Answers `pong`.
    pub fn ping(&self) -> String {
        "pong".into()
    }
}

fn me() -> Caller {
    Caller::new(1, 1)
}

fn call(c: &mut impl Shared, method: &str, args: Vec<Object>) -> Result<Object, Raised> {
    match c.call(method, args, me())? {
        Outcome::Return(o) => Ok(o),
        other => panic!("{method}: {other:?}"),
    }
}

#[test]
fn dispatches_by_name_with_decoded_arguments() {
    let mut c = Counter::construct(vec![Object::Int(5)]).unwrap();
    assert_eq!(
        call(&mut c, "add", vec![Object::Int(2)]),
        Ok(Object::Int(7))
    );
    assert_eq!(call(&mut c, "get", vec![]), Ok(Object::Int(7)));
    assert_eq!(
        call(&mut c, "type", vec![]),
        Ok(Object::Str("counter".into()))
    );
    let tags = Object::List(vec![Object::Str("a".into())]);
    let at = Object::dict([("x", 1), ("y", 2)]);
    assert_eq!(
        call(&mut c, "note", vec![Object::Str("hi".into()), tags, at]),
        Ok(Object::None)
    );
    assert_eq!(c.log, ["hi [\"a\"] Point { x: 1, y: 2 }"]);
    // Private, `_`-prefixed and `#[exposed]` methods are all dispatched.
    assert_eq!(call(&mut c, "_h", vec![]), Ok(Object::Int(-1)));
    assert_eq!(call(&mut c, "private", vec![]), Ok(Object::Int(-2)));
    assert_eq!(call(&mut c, "shown", vec![]), Ok(Object::Int(-3)));
}

#[test]
fn wrong_arguments_and_unknown_methods_raise_python_errors() {
    let mut c = Counter::default();
    let e = call(&mut c, "add", vec![]).unwrap_err();
    assert_eq!(e.exception, Exception::TypeError);
    assert_eq!(
        e.message,
        "add() missing 1 required positional argument: 'by'"
    );
    let e = call(&mut c, "add", vec![Object::Int(1), Object::Int(2)]).unwrap_err();
    assert_eq!(
        e.message,
        "add() takes 1 positional argument but 2 were given"
    );
    let e = call(&mut c, "add", vec![Object::Str("x".into())]).unwrap_err();
    assert_eq!(e.exception, Exception::TypeError);
    assert!(
        e.message.starts_with("add() argument 'by': invalid type"),
        "{e}"
    );
    // Skipped methods and associated functions stay in the `impl`, out of the dispatch.
    assert_eq!(c.not_dispatched(4u8) + Counter::helper(), 4);
    for gone in ["not_dispatched", "helper", "nope"] {
        let e = call(&mut c, gone, vec![]).unwrap_err();
        assert_eq!(e.exception, Exception::AttributeError);
        assert_eq!(
            e.message,
            format!("'Counter' object has no attribute '{gone}'")
        );
    }
    let e = Counter::construct(vec![]).unwrap_err();
    assert_eq!(
        e.message,
        "Counter::new() missing 1 required positional argument: 'start'"
    );
}

#[test]
fn results_answer_their_ok_and_raise_their_err() {
    let mut c = Counter::construct(vec![Object::Int(6)]).unwrap();
    assert_eq!(
        call(&mut c, "checked", vec![Object::Int(2)]),
        Ok(Object::Int(3))
    );
    assert_eq!(
        call(&mut c, "checked", vec![Object::Int(0)]),
        Err(Raised::new(Exception::RuntimeError, "division by zero"))
    );
    // A `Raised` is raised as it is.
    assert_eq!(
        call(&mut c, "key", vec![Object::Str("k".into())]),
        Err(Raised::new(Exception::KeyError, "'k'"))
    );
}

#[test]
fn returns_proxy_shares_a_new_object_of_its_typeid() {
    let mut c = Counter::construct(vec![Object::Int(9)]).unwrap();
    match c.call("fork", vec![], me()).unwrap() {
        Outcome::Share { typeid, object } => {
            assert_eq!(typeid, "Counter");
            assert_eq!(
                object.value(),
                Object::dict([("n", Object::Int(9)), ("log", Object::List(vec![]))])
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_default_exposed_list_is_pythons_rule_plus_marked_methods() {
    let c = Counter::default();
    let mut exposed = c.exposed().unwrap().to_vec();
    exposed.sort_unstable();
    assert_eq!(
        exposed,
        [
            "add", "checked", "fork", "get", "key", "note", "shown", "type"
        ]
    );
}

#[test]
fn the_value_is_the_serde_form_or_the_type_name() {
    let c = Counter::construct(vec![Object::Int(1)]).unwrap();
    assert_eq!(c.repr(), "{'log': [], 'n': 1}");
    assert_eq!(Opaque.repr(), "<Opaque object>");
    assert_eq!(Opaque.value(), Object::Str("<Opaque object>".into()));
}

/// The proxy's methods keep the original argument types (references too) and return
/// `Result`s; `#[returns_proxy]` gives the other type's proxy. Compiled, not run.
#[allow(dead_code)]
fn proxy_signatures(p: &CounterProxy, h: &Hidden) -> multiprocessing_managers::Result<()> {
    let _: i64 = p.add(1)?;
    p.note("text", &["tag".to_string()], &Point { x: 0, y: 0 })?;
    let _: CounterProxy = p.fork()?;
    let _: <Counter as Managed>::Proxy = p.fork()?;
    let _: String = p.r#type()?;
    let _: i64 = p.private()?;
    let _: String = h.ping()?;
    let _: &multiprocessing_managers::Proxy = h.as_proxy();
    let _: Object = Object::from(p);
    Ok(())
}

/// The runtime crate reached by another path, and a proxy named by the block.
pub mod renamed {
    use multiprocessing_managers as runtime;

    /// A type whose block names the runtime's path itself.
    pub struct Via;

    #[runtime::managed(crate = runtime, proxy = ViaHandle)]
    impl Via {
        /// One.
        pub fn one(&self) -> u8 {
            1
        }
    }
}

#[test]
fn the_runtime_path_and_the_proxy_name_can_be_given() {
    assert_eq!(call(&mut renamed::Via, "one", vec![]), Ok(Object::Int(1)));
    let method: fn(&renamed::ViaHandle) -> multiprocessing_managers::Result<u8> =
        renamed::ViaHandle::one;
    let _ = method;
}
