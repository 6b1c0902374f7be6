//! The documentation's Examples section, "customized managers and proxies": one type
//! registered twice with different exposed methods, a generator shared as an iterator, and a
//! module of functions shared by name.
//!
//! ```python
//! class Foo:
//!     def f(self):
//!         print('you called Foo.f()')
//!     def g(self):
//!         print('you called Foo.g()')
//!     def _h(self):
//!         print('you called Foo._h()')
//!
//! def baz():
//!     for i in range(10):
//!         yield i*i
//!
//! class GeneratorProxy(BaseProxy):
//!     _exposed_ = ['__next__']
//!     ...
//!
//! MyManager.register('Foo1', Foo)
//! MyManager.register('Foo2', Foo, exposed=('g', '_h'))
//! MyManager.register('baz', baz, proxytype=GeneratorProxy)
//! MyManager.register('operator', get_operator_module)
//! ```
//!
//! Prints what CPython prints (`you called Foo.f()` comes from the manager's server process,
//! whose standard output is this program's). Where Python asserts `not hasattr(f1, '_h')`,
//! the Rust proxy has the method, since one proxy type serves every registration of `Foo`:
//! the server refuses the call, and the example shows that error on standard error.

use multiprocessing::managers::{
    BaseManager, Generator, GeneratorProxy, Object, Raised, Registration, Shared, managed, operator,
};

/// Python's `Foo`: `f` and `g` are public, `_h` is not (by Python's rule: its name).
pub struct Foo;

#[managed]
impl Foo {
    /// What `manager.Foo1()` and `manager.Foo2()` run in the server.
    #[constructor]
    fn new() -> Self {
        Foo
    }

    /// Exposed by default.
    pub fn f(&self) {
        println!("you called Foo.f()");
    }

    /// Exposed by default.
    pub fn g(&self) {
        println!("you called Foo.g()");
    }

    /// Not exposed by default (its name starts with `_`); `Foo2`'s registration exposes it.
    pub fn _h(&self) {
        println!("you called Foo._h()");
    }
}

/// Python's generator function `baz`: a [`Generator`] lives in the server, and the client's
/// [`GeneratorProxy`] is an `Iterator` that asks it for each item.
fn baz(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Generator::new((0..10i64).map(|i| i * i))))
}

/// Python's `get_operator_module`: the `operator` module, its functions the exposed methods.
fn get_operator_module(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(operator::module()))
}

/// The names of an exposed list, sorted (Python's `sorted(f1._exposed_)`).
fn sorted(exposed: Option<Vec<String>>) -> Vec<String> {
    let mut names = exposed.unwrap_or_default();
    names.sort();
    names
}

fn main() -> Result<(), multiprocessing::Error> {
    let manager = BaseManager::builder()
        // register the Foo type; make `f()` and `g()` accessible via proxy
        .register_type::<Foo>("Foo1")
        // register the Foo type; make `g()` and `_h()` accessible via proxy
        .register_with("Foo2", Registration::of::<Foo>().exposed(["g", "_h"]))
        // register the generator function baz; its proxies are `GeneratorProxy`s
        .register("baz", baz)
        // register get_operator_module(); make public functions accessible via proxy
        .register("operator", get_operator_module)
        .start()?;

    println!("{}", "-".repeat(20));

    let f1: FooProxy = manager.create_as("Foo1", Vec::new())?;
    f1.f()?;
    f1.g()?;
    let refused = f1._h().expect_err("Foo1 does not expose _h");
    eprintln!("f1._h(): {refused}");
    assert_eq!(sorted(f1.exposed()?), ["f", "g"]);

    println!("{}", "-".repeat(20));

    let f2: FooProxy = manager.create_as("Foo2", Vec::new())?;
    f2.g()?;
    f2._h()?;
    assert!(f2.f().is_err(), "Foo2 does not expose f");
    assert_eq!(sorted(f2.exposed()?), ["_h", "g"]);

    println!("{}", "-".repeat(20));

    let it: GeneratorProxy<i64> = manager.create_as("baz", Vec::new())?;
    for i in it {
        print!("<{}> ", i?);
    }
    println!();

    println!("{}", "-".repeat(20));

    let op = manager.create("operator", Vec::new())?;
    let add = op.call_method("add", vec![Object::Int(23), Object::Int(45)])?;
    println!("op.add(23, 45) = {add}");
    let pow = op.call_method("pow", vec![Object::Int(2), Object::Int(94)])?;
    println!("op.pow(2, 94) = {pow}");
    let exposed = op.exposed()?.unwrap_or_default();
    let exposed = Object::Tuple(exposed.into_iter().map(Object::Str).collect());
    println!("op._exposed_ = {exposed}");
    Ok(())
}
