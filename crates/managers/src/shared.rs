//! [`Shared`]: what a type must do to live inside a manager, and the [`Registry`] of types a
//! server can make.
//!
//! A manager holds values behind a trait object: each call names a method and passes its
//! arguments as [`Object`]s; the type answers at once ([`Outcome::Return`]), hands back a new
//! shared object ([`Outcome::Share`], Python's `method_to_typeid`), or asks the server to wait
//! for it without blocking anyone else ([`Outcome::Wait`]: a lock's `acquire`, a queue's
//! `get`). The server runs every call on one thread, one at a time, so a method is atomic with
//! respect to every other call on every object.
//!
//! ```
//! use multiprocessing_managers::Object;
//! use multiprocessing_managers::protocol::{Exception, Raised};
//! use multiprocessing_managers::shared::{Caller, Outcome, Shared};
//!
//! /// A counter, shared.
//! struct Counter(i128);
//!
//! impl Shared for Counter {
//!     fn call(&mut self, method: &str, args: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
//!         match (method, args.as_slice()) {
//!             ("add", [Object::Int(n)]) => {
//!                 self.0 += n;
//!                 Ok(Outcome::Return(Object::Int(self.0)))
//!             }
//!             _ => Err(Raised::new(Exception::AttributeError, method)),
//!         }
//!     }
//!     fn value(&self) -> Object {
//!         Object::Int(self.0)
//!     }
//! }
//!
//! let mut c = Counter(1);
//! let me = Caller::new(1, 1);
//! assert!(matches!(c.call("add", vec![Object::Int(2)], me), Ok(Outcome::Return(Object::Int(3)))));
//! ```
//!
//! # Registering a type
//!
//! A [`Registration`] carries Python's other `register` arguments, and the server enforces
//! them: a method outside the `exposed` list is refused before the type sees it, a
//! `method_to_typeid` method's result comes back as a proxy to a new shared object, and a
//! typeid with `create_method(false)` is not made by name (the documentation's `Foo1`/`Foo2`):
//!
//! ```
//! use multiprocessing_managers::{BaseManager, ErrorKind, Object, Raised, Registration};
//! use multiprocessing_managers::shared::{Caller, Outcome, Shared};
//! use multiprocessing_managers::protocol::Exception;
//!
//! struct Foo;
//! impl Shared for Foo {
//!     fn call(&mut self, method: &str, _: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
//!         match method {
//!             "f" | "g" | "_h" => Ok(Outcome::Return(Object::Str(format!("Foo.{method}()")))),
//!             // A list, shared as a `list` object: the caller gets a proxy.
//!             "items" => Ok(Outcome::Return(Object::List(vec![Object::Int(1)]))),
//!             _ => Err(Raised::new(Exception::AttributeError, method)),
//!         }
//!     }
//!     fn value(&self) -> Object { Object::None }
//!     // Python's default: the public methods.
//!     fn exposed(&self) -> Option<&[&'static str]> { Some(&["f", "g"]) }
//! }
//! fn foo(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> { Ok(Box::new(Foo)) }
//!
//! let m = BaseManager::builder()
//!     .register("Foo1", foo)
//!     .register_with("Foo2", Registration::new(foo).exposed(["g", "_h"]).method_to_typeid([("items", "list")]))
//!     .register_with("Foo3", Registration::new(foo).create_method(false))
//!     .start()
//!     .unwrap();
//! let f1 = m.create("Foo1", vec![]).unwrap();
//! let e = f1.call_method("_h", vec![]).unwrap_err();
//! assert_eq!(e.kind(), ErrorKind::Unsupported);
//! assert_eq!(e.to_string(), "AttributeError: method '_h' of 'Foo1' object is not in exposed=('f', 'g')");
//! let f2 = m.create("Foo2", vec![]).unwrap();
//! assert_eq!(f2.call_method("_h", vec![]).unwrap(), Object::Str("Foo._h()".into()));
//! assert_eq!(f2.exposed().unwrap().unwrap(), ["g", "_h", "items"]);
//! let items = f2.call_method_proxy("items", vec![]).unwrap();
//! assert_eq!(items.typeid(), "list");
//! assert_eq!(m.create("Foo3", vec![]).unwrap_err().kind(), ErrorKind::Unsupported);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;

use multiprocessing_core::code::CodeRef;
use serde::{Deserialize, Serialize};

use crate::object::Object;
use crate::protocol::Raised;

/// A future a waiting call resolves to; it runs on the server's thread, so it need not be `Send`.
pub type WaitFuture = Pin<Box<dyn Future<Output = Result<Object, Raised>>>>;

/// What a call on a shared object gives.
#[non_exhaustive]
pub enum Outcome {
    /// The result, sent back as it is.
    Return(Object),
    /// A new shared object of type `typeid`: the caller gets a proxy to it (Python's
    /// `method_to_typeid`).
    Share {
        /// The registered type name of the new object (for the caller's proxy).
        typeid: String,
        /// The object.
        object: Box<dyn Shared>,
    },
    /// The result is not ready: the server awaits this future (other clients are served
    /// meanwhile) and sends its output. To touch the object's state when it resumes, the type
    /// keeps that state behind an `Rc<RefCell<..>>` the future holds too.
    ///
    /// The future is dropped unfinished when its caller hangs up (the process died), so it
    /// must change the object's state only in the poll that returns `Ready` (a lock's
    /// `acquire` takes the lock then, never before), and undo any registration in `Drop`.
    Wait(WaitFuture),
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Return(o) => f.debug_tuple("Return").field(o).finish(),
            Outcome::Share { typeid, .. } => {
                f.debug_struct("Share").field("typeid", typeid).finish()
            }
            Outcome::Wait(_) => f.write_str("Wait(..)"),
        }
    }
}

/// Who makes a call: the client's session (one per process and manager) and its thread there.
/// A type that tracks owners (a lock's holder) keys them by it, and releases what a session
/// held when [`Shared::client_gone`] says it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Caller {
    /// The client's session.
    pub session: u64,
    /// The calling thread within that client (unique within the session).
    pub thread: u64,
    /// Whether the caller is one connection's own (a
    /// [`Request::Channel`](crate::protocol::Request::Channel), an async hold): everything it
    /// takes is that connection's, so a type may give back even what has no owner (a
    /// semaphore's permits) when [`Shared::client_gone`] says it ended.
    pub channel: bool,
}

impl Caller {
    /// A caller (for calling a [`Shared`] type directly, in tests).
    #[must_use]
    pub fn new(session: u64, thread: u64) -> Caller {
        Caller {
            session,
            thread,
            channel: false,
        }
    }

    /// A connection's own caller (a [`Request::Channel`](crate::protocol::Request::Channel)),
    /// for calling a [`Shared`] type directly, in tests.
    #[must_use]
    pub fn channel(session: u64, thread: u64) -> Caller {
        Caller {
            session,
            thread,
            channel: true,
        }
    }
}

/// A type that lives inside a manager, called by name from proxies in other processes.
///
/// Besides its own methods the server answers three names for every object, as CPython's does:
/// `__repr__` and `__str__` (from [`repr`](Self::repr)) and `#GETVALUE` (from
/// [`value`](Self::value), a proxy's `get_value`).
pub trait Shared: 'static {
    /// Calls `method` with `args`. An unknown method is an [`AttributeError`]
    /// (`Raised::new(Exception::AttributeError, method)`).
    ///
    /// [`AttributeError`]: crate::protocol::Exception::AttributeError
    fn call(&mut self, method: &str, args: Vec<Object>, caller: Caller) -> Result<Outcome, Raised>;

    /// The client `session` is gone (its process exited or was killed): a type that keeps
    /// per-client state (a lock it holds, a waiter it counts) drops it here. By default nothing.
    fn client_gone(&mut self, session: u64) {
        let _ = session;
    }

    /// A copy of the value (a proxy's `get_value`, Python's `_getvalue()`).
    fn value(&self) -> Object;

    /// Python's `repr()` of the value; by default the [`value`](Self::value)'s debug form.
    fn repr(&self) -> String {
        format!("{:?}", self.value())
    }

    /// Python's `repr()` with every shared object inside shown as its referent's value:
    /// `resolve` turns a value holding [`Object::Proxy`]s into one holding copies of their
    /// referents. The server uses it for values that hold proxies (Python prints
    /// `[['hello']]` for a list holding a proxy to `['hello']`). By default, the resolved
    /// [`value`](Self::value)'s repr.
    fn repr_resolved(&self, resolve: &mut dyn FnMut(&Object) -> Object) -> String {
        resolve(&self.value()).to_string()
    }

    /// The methods a proxy may call (Python's `exposed`), when the type restricts them; `None`
    /// (the default) lets every method the type answers be called. A registration's own
    /// list ([`Registration::exposed`]) takes precedence. The server answers a call outside
    /// the list with an error naming the method, before the type sees it.
    fn exposed(&self) -> Option<&[&'static str]> {
        None
    }

    /// Appends the ids of the shared objects this value refers to ([`Object::Proxy`] tokens
    /// inside it), which the server keeps alive while this value lives. By default it walks
    /// [`value`](Self::value); a container overrides it to walk its contents in place.
    fn references(&self, out: &mut Vec<u64>) {
        collect_references(&self.value(), out);
    }
}

/// Appends the id of every [`Object::Proxy`] inside `o` to `out`.
pub fn collect_references(o: &Object, out: &mut Vec<u64>) {
    match o {
        Object::Proxy(t) => out.push(t.id),
        Object::List(v) | Object::Tuple(v) => v.iter().for_each(|o| collect_references(o, out)),
        Object::Dict(d) => d.iter().for_each(|(k, v)| {
            collect_references(k, out);
            collect_references(v, out);
        }),
        _ => {}
    }
}

/// Whether `o` holds an [`Object::Proxy`] anywhere.
#[must_use]
pub fn holds_references(o: &Object) -> bool {
    match o {
        Object::Proxy(_) => true,
        Object::List(v) | Object::Tuple(v) => v.iter().any(holds_references),
        Object::Dict(d) => d
            .iter()
            .any(|(k, v)| holds_references(k) || holds_references(v)),
        _ => false,
    }
}

/// Makes a shared object from a `create` request's arguments.
pub type Constructor = fn(Vec<Object>) -> Result<Box<dyn Shared>, Raised>;

/// How a type is registered with a manager: the arguments of Python's
/// `BaseManager.register(typeid, callable, proxytype, exposed, method_to_typeid,
/// create_method)` that the server needs.
///
/// ```
/// use multiprocessing_managers::shared::Registration;
/// # use multiprocessing_managers::{Object, Raised, Shared, types::Dict};
/// # fn make(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> { Ok(Box::new(Dict::default())) }
/// let r = Registration::new(make).exposed(["g", "_h"]).method_to_typeid([("items", "list")]);
/// assert_eq!(r.exposed_methods(), Some(&["g".to_string(), "_h".to_string()][..]));
/// assert_eq!(r.typeid_of("items"), Some("list"));
/// // A client that only connects knows the typeid without a way to make it.
/// assert!(Registration::without_constructor().constructor().is_none());
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[doc(alias = "register")]
pub struct Registration {
    constructor: Option<CodeRef<Constructor>>,
    exposed: Option<Vec<String>>,
    method_to_typeid: BTreeMap<String, String>,
    create_method: bool,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("constructor", &self.constructor.is_some())
            .field("exposed", &self.exposed)
            .field("method_to_typeid", &self.method_to_typeid)
            .field("create_method", &self.create_method)
            .finish()
    }
}

impl Registration {
    /// A type made by `constructor` (Python's `callable`), every method its type answers
    /// exposed, no method returning a proxy, creatable by name.
    #[must_use]
    pub fn new(constructor: Constructor) -> Registration {
        Registration {
            constructor: Some(CodeRef::new(constructor)),
            ..Registration::without_constructor()
        }
    }

    /// A `#[managed]` type made by its `#[constructor]`, exposing what the type exposes.
    #[must_use]
    pub fn of<T: Construct + Shared>() -> Registration {
        Registration::new(construct_boxed::<T>)
    }

    /// A typeid without a constructor: what a client that only connects registers (Python's
    /// `register('get_queue')`), or a type only ever made by another's method
    /// ([`method_to_typeid`](Self::method_to_typeid)).
    #[must_use]
    pub fn without_constructor() -> Registration {
        Registration {
            constructor: None,
            exposed: None,
            method_to_typeid: BTreeMap::new(),
            create_method: true,
        }
    }

    /// Only these methods may be called through a proxy (Python's `exposed`); names starting
    /// with `_` may be listed.
    #[must_use]
    pub fn exposed<I, S>(mut self, methods: I) -> Registration
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exposed = Some(methods.into_iter().map(Into::into).collect());
        self
    }

    /// These methods answer with a proxy to a new shared object of the given typeid instead
    /// of a copy of their result (Python's `method_to_typeid`).
    #[must_use]
    pub fn method_to_typeid<I, M, T>(mut self, map: I) -> Registration
    where
        I: IntoIterator<Item = (M, T)>,
        M: Into<String>,
        T: Into<String>,
    {
        self.method_to_typeid
            .extend(map.into_iter().map(|(m, t)| (m.into(), t.into())));
        self
    }

    /// Whether a client may make objects of this typeid by name (Python's `create_method`;
    /// `true` by default). With `false`, objects of it come only from other objects' methods.
    #[must_use]
    pub fn create_method(mut self, create: bool) -> Registration {
        self.create_method = create;
        self
    }

    /// The constructor, if there is one.
    #[must_use]
    pub fn constructor(&self) -> Option<Constructor> {
        self.constructor.as_ref().map(|c| c.get())
    }

    /// The registration's own list of exposed methods, if it has one.
    #[must_use]
    pub fn exposed_methods(&self) -> Option<&[String]> {
        self.exposed.as_deref()
    }

    /// The typeid `method`'s result is shared as, if it is one of
    /// [`method_to_typeid`](Self::method_to_typeid)'s.
    #[must_use]
    pub fn typeid_of(&self, method: &str) -> Option<&str> {
        self.method_to_typeid.get(method).map(String::as_str)
    }

    /// Every method whose result is shared, with the typeid it is shared as.
    pub fn methods_to_typeids(&self) -> impl Iterator<Item = (&str, &str)> {
        self.method_to_typeid
            .iter()
            .map(|(m, t)| (m.as_str(), t.as_str()))
    }

    /// Whether clients may make objects of this typeid by name.
    #[must_use]
    pub fn creatable(&self) -> bool {
        self.create_method
    }

    /// Whether the server has anything to enforce for this typeid beyond the type's own
    /// [`Shared::exposed`]: an exposed list, or methods whose results it shares.
    pub(crate) fn has_rules(&self) -> bool {
        self.exposed.is_some() || !self.method_to_typeid.is_empty()
    }
}

/// The error for a `create` of `typeid` that its registration does not allow (Python's
/// `AttributeError` for a manager method that `create_method=False` left out).
pub(crate) fn not_creatable(typeid: &str, registration: &Registration) -> Raised {
    let why = if registration.creatable() {
        "it has no constructor in the server (registered without a callable)"
    } else {
        "it is registered with create_method=False"
    };
    Raised::new(
        crate::protocol::Exception::AttributeError,
        format!(
            "objects of '{typeid}' cannot be created by name: {why}; they come from other \
             objects' methods (method_to_typeid)"
        ),
    )
}

/// The types a server can make, by type name (Python's `BaseManager.register` table).
///
/// It travels to a server started in a child process: each constructor as a checked code
/// reference, so only functions of this executable, named by a holder of the family's authkey,
/// are ever called.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Registry {
    types: HashMap<String, Registration>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.types.keys().collect();
        names.sort();
        f.debug_struct("Registry").field("types", &names).finish()
    }
}

impl Registry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers (or replaces) `typeid`, made by `constructor`.
    pub fn register(&mut self, typeid: impl Into<String>, constructor: Constructor) -> &mut Self {
        self.register_with(typeid, Registration::new(constructor))
    }

    /// Registers (or replaces) `typeid` as `registration` says.
    pub fn register_with(
        &mut self,
        typeid: impl Into<String>,
        registration: Registration,
    ) -> &mut Self {
        self.types.insert(typeid.into(), registration);
        self
    }

    /// The constructor of `typeid`.
    #[must_use]
    pub fn get(&self, typeid: &str) -> Option<Constructor> {
        self.types.get(typeid).and_then(Registration::constructor)
    }

    /// The registration of `typeid`.
    #[must_use]
    pub fn registration(&self, typeid: &str) -> Option<&Registration> {
        self.types.get(typeid)
    }

    /// Whether `typeid` is registered.
    #[must_use]
    pub fn contains(&self, typeid: &str) -> bool {
        self.types.contains_key(typeid)
    }

    /// Every registered typeid and its registration, in no particular order (Python's
    /// `BaseManager._registry`).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Registration)> {
        self.types.iter().map(|(t, r)| (t.as_str(), r))
    }
}

/// A type made to live in a manager by the `#[managed]` attribute on its `impl` block (or by
/// hand): the typed proxy that mirrors its methods.
pub trait Managed: Shared + Sized {
    /// The proxy whose methods mirror the exposed ones.
    type Proxy: ProxyType;
}

/// A managed type that a manager can make from a `create` request's arguments (the
/// `#[constructor]` of a `#[managed]` block).
pub trait Construct: Sized {
    /// Makes the value from the arguments a client passed.
    fn construct(args: Vec<Object>) -> Result<Self, Raised>;
}

/// A typed view over a [`Proxy`](crate::Proxy): the built-in typed proxies and the ones
/// `#[managed]` generates.
pub trait ProxyType: Sized {
    /// A typed view of `proxy` (its referent must be of this type for calls to succeed).
    fn from_proxy(proxy: crate::Proxy) -> Self;
    /// The untyped proxy.
    fn as_proxy(&self) -> &crate::Proxy;
}

/// The registered constructor of a [`Construct`] type.
fn construct_boxed<T: Construct + Shared>(args: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    T::construct(args).map(|t| Box::new(t) as Box<dyn Shared>)
}
