//! A manager's registrations across real processes, under each start method: Python's rules
//! for `register(typeid, callable, exposed=, method_to_typeid=, create_method=)` (the default
//! exposed list, an explicit list naming a `_` method, an unexposed method refused with its
//! name, `method_to_typeid` results as proxies under their own registration's rules,
//! `create_method=False` refused by name but made by another's method), a client that
//! registers a typeid without a constructor, the documentation's generator `baz` iterated in
//! two processes, and errors and panics in methods and constructors carried back while the
//! server goes on.

use multiprocessing::managers::{
    BaseManager, Caller, Exception, Generator, GeneratorProxy, ListProxy, ManagerBuilder, Object,
    Outcome, Proxy, Raised, Registration, Shared,
};
use multiprocessing::{ErrorKind, StartMethod, get_context};
use multiprocessing_tests::{eventually, per_method};

/// The documentation's `Foo`: `f`, `g` and `_h`; its public methods (what a `#[managed]`
/// block exposes) are `f` and `g`.
struct Foo;

impl Shared for Foo {
    fn call(&mut self, method: &str, _: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        match method {
            "f" | "g" | "_h" => Ok(Outcome::Return(Object::Str(format!(
                "you called Foo.{method}()"
            )))),
            _ => Err(Raised::new(Exception::AttributeError, method)),
        }
    }
    fn value(&self) -> Object {
        Object::None
    }
    fn exposed(&self) -> Option<&[&'static str]> {
        Some(&["f", "g"])
    }
}

fn make_foo(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Foo))
}

/// Makes other objects: each method's result is shared as its `method_to_typeid` says.
struct Maker;

impl Shared for Maker {
    fn call(&mut self, method: &str, args: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        let ret = |o| Ok(Outcome::Return(o));
        match method {
            // Shared under the typeid the registration maps it to.
            "child" => Ok(Outcome::Share {
                typeid: "Foo1".into(),
                object: Box::new(Foo),
            }),
            "squares" => ret(Object::List((0..4).map(|i| Object::Int(i * i)).collect())),
            "total" => ret(Object::Int(42)),
            "hidden" => ret(args.into_iter().next().unwrap_or(Object::None)),
            "plain" => ret(Object::Int(7)),
            // Answered after a wait (as a queue's `get`), then shared all the same.
            "later" => Ok(Outcome::Wait(Box::pin(async {
                Ok(Object::List(vec![Object::Int(5)]))
            }))),
            _ => Err(Raised::new(Exception::AttributeError, method)),
        }
    }
    fn value(&self) -> Object {
        Object::None
    }
}

fn make_maker(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Maker))
}

/// A name, made only by `Maker.hidden` (its typeid has `create_method(false)`).
struct Named(String);

impl Shared for Named {
    fn call(&mut self, method: &str, _: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        match method {
            "name" => Ok(Outcome::Return(Object::Str(self.0.clone()))),
            _ => Err(Raised::new(Exception::AttributeError, method)),
        }
    }
    fn value(&self) -> Object {
        Object::Str(self.0.clone())
    }
}

fn make_named(args: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    match args.as_slice() {
        [Object::Str(s)] => Ok(Box::new(Named(format!("named {s}")))),
        _ => Err(Raised::new(Exception::TypeError, "Named(str)")),
    }
}

/// Fails on demand: `explode` panics, `explode_later` panics while it waits, `fail` raises
/// `ValueError`, `ok` answers.
struct Boom;

impl Shared for Boom {
    fn call(&mut self, method: &str, args: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        match method {
            "explode" => panic!("Boom went off with {args:?}"),
            "fail" => Err(Raised::new(Exception::ValueError, "bad input 3")),
            // Panics in the server's wait, after the call returned.
            "explode_later" => Ok(Outcome::Wait(Box::pin(async {
                if true {
                    panic!("Boom went off while waiting");
                }
                Ok(Object::None)
            }))),
            "ok" => Ok(Outcome::Return(Object::Bool(true))),
            _ => Err(Raised::new(Exception::AttributeError, method)),
        }
    }
    fn value(&self) -> Object {
        Object::None
    }
}

fn make_boom(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Boom))
}

fn make_bomb(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    panic!("the bomb's constructor refuses")
}

/// The documentation's `def baz(): for i in range(10): yield i*i`.
fn baz(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(Generator::new((0..10u64).map(|i| i * i))))
}

/// The documentation's `MyManager` and this file's types.
fn my_manager(method: StartMethod) -> ManagerBuilder {
    get_context(method)
        .manager_builder()
        .register("Foo1", make_foo)
        .register_with("Foo2", Registration::new(make_foo).exposed(["g", "_h"]))
        .register_with(
            "Maker",
            Registration::new(make_maker).method_to_typeid([
                ("child", "Foo2"),
                ("squares", "Squares"),
                ("total", "Total"),
                ("hidden", "Hidden"),
                ("later", "Squares"),
            ]),
        )
        .register_with("Squares", Registration::without_constructor())
        .register_with("Total", Registration::without_constructor())
        .register_with("Hidden", Registration::new(make_named).create_method(false))
        .register("Boom", make_boom)
        .register("Bomb", make_bomb)
        .register("baz", baz)
}

fn text(o: Object) -> String {
    match o {
        Object::Str(s) => s,
        other => panic!("not a str: {other:?}"),
    }
}

fn sorted(l: Option<Vec<String>>) -> Vec<String> {
    let mut l = l.expect("an exposed list");
    l.sort();
    l
}

/// Calls `f` and `_h` on a proxy from this process: `f`'s answer, and the error of `_h`
/// (whether its kind is `Unsupported`, its exception, its text).
fn call_f_and_h(f1: Proxy) -> (String, (bool, Option<Exception>, String)) {
    let f = text(f1.call_method("f", Vec::new()).unwrap());
    let e = f1.call_method("_h", Vec::new()).unwrap_err();
    (
        f,
        (
            e.kind() == ErrorKind::Unsupported,
            e.exception(),
            e.to_string(),
        ),
    )
}

fn the_default_exposed_list_refuses_an_unexposed_method_naming_it(method: StartMethod) {
    let m = my_manager(method).start().unwrap();
    let f1 = m.create("Foo1", Vec::new()).unwrap();
    assert_eq!(
        text(f1.call_method("g", Vec::new()).unwrap()),
        "you called Foo.g()"
    );
    assert_eq!(sorted(f1.exposed().unwrap()), ["f", "g"]);
    // The same object used from another process, refused the same way there.
    let child = get_context(method)
        .start(call_f_and_h, (f1.clone(),))
        .unwrap();
    let (f, (unsupported, exception, message)) = child.join().unwrap();
    assert_eq!(f, "you called Foo.f()");
    assert!(unsupported);
    assert_eq!(exception, Some(Exception::AttributeError));
    assert_eq!(
        message,
        "AttributeError: method '_h' of 'Foo1' object is not in exposed=('f', 'g')"
    );
    // What every object answers stays answerable.
    assert_eq!(f1.get_value().unwrap(), Object::None);
    assert_eq!(f1.repr().unwrap(), "None");
}

fn an_explicit_exposed_list_may_name_an_underscore_method(method: StartMethod) {
    let m = my_manager(method).start().unwrap();
    let f2 = m.create("Foo2", Vec::new()).unwrap();
    assert_eq!(
        text(f2.call_method("g", Vec::new()).unwrap()),
        "you called Foo.g()"
    );
    assert_eq!(
        text(f2.call_method("_h", Vec::new()).unwrap()),
        "you called Foo._h()"
    );
    let e = f2.call_method("f", Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("method 'f' of 'Foo2'"), "{e}");
    assert_eq!(sorted(f2.exposed().unwrap()), ["_h", "g"]);
    // A type with no list of its own and no registration list: everything goes.
    assert_eq!(m.dict().unwrap().exposed().unwrap(), None);
}

/// What a child sees through a `method_to_typeid` proxy to a `Foo2`: `_h` allowed, `f`
/// refused (`Unsupported`).
fn use_foo2(f2: Proxy) -> (String, String, bool) {
    let h = text(f2.call_method("_h", Vec::new()).unwrap());
    let e = f2.call_method("f", Vec::new()).unwrap_err();
    (
        f2.typeid().to_string(),
        h,
        e.kind() == ErrorKind::Unsupported,
    )
}

fn method_to_typeid_results_come_back_as_proxies(method: StartMethod) {
    let m = my_manager(method).start().unwrap();
    let maker = m.create("Maker", Vec::new()).unwrap();
    // A method not in the map is copied by value.
    assert_eq!(
        maker.call_method("plain", Vec::new()).unwrap(),
        Object::Int(7)
    );

    // A shared object under the mapped typeid, with that typeid's exposed list.
    let child = maker.call_method_proxy("child", Vec::new()).unwrap();
    assert_eq!(sorted(child.exposed().unwrap()), ["_h", "g"]);
    let p = get_context(method).start(use_foo2, (child,)).unwrap();
    assert_eq!(
        p.join().unwrap(),
        ("Foo2".to_string(), "you called Foo._h()".to_string(), true)
    );

    // A list whose typeid has no constructor is the built-in list, with its methods.
    let squares: ListProxy<i64> = maker
        .call_method_proxy("squares", Vec::new())
        .map(ListProxy::from_proxy)
        .unwrap();
    assert_eq!(squares.typeid(), "Squares");
    squares.append(16).unwrap();
    assert_eq!(squares.to_vec().unwrap(), [0, 1, 4, 9, 16]);

    // A result the server waited for is shared too.
    let later = maker.call_method_proxy("later", Vec::new()).unwrap();
    assert_eq!(later.typeid(), "Squares");
    assert_eq!(
        later.get_value().unwrap(),
        Object::List(vec![Object::Int(5)])
    );

    // Any other value is held as it is.
    let total = maker.call_method_proxy("total", Vec::new()).unwrap();
    assert_eq!(total.get_value().unwrap(), Object::Int(42));
    assert_eq!(total.exposed().unwrap(), None);

    // Each proxy owns its object's reference: once they are dropped (the child's with its
    // process), only the maker is left.
    drop((later, total, squares));
    eventually("the shared results are freed", || {
        m.number_of_objects().unwrap() == 1
    });
}

fn create_method_false_is_refused_by_name_but_made_by_another_method(method: StartMethod) {
    let m = my_manager(method).start().unwrap();
    // Refused by this manager's own registry, before asking.
    let e = m.create("Hidden", Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(e.exception(), Some(Exception::AttributeError));
    assert!(e.to_string().contains("create_method=False"), "{e}");
    let before = m.number_of_objects().unwrap();

    // The server refuses it too, to a client that registered nothing.
    let other = BaseManager::builder()
        .address(m.address().clone())
        .connect()
        .unwrap();
    let e = other.create("Hidden", Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("create_method=False"), "{e}");
    // And a typeid the server knows without a constructor.
    let e = other.create("Squares", Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("no constructor"), "{e}");
    assert_eq!(m.number_of_objects().unwrap(), before);
    // A client's own `create_method(false)` refuses without asking: the server could make it.
    let shy = BaseManager::builder()
        .address(m.address().clone())
        .register_with(
            "Foo1",
            Registration::without_constructor().create_method(false),
        )
        .connect()
        .unwrap();
    assert_eq!(
        shy.create("Foo1", Vec::new()).unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    assert!(other.create("Foo1", Vec::new()).is_ok());

    // Made through a method_to_typeid method: the typeid's constructor gets the result.
    let maker = m.create("Maker", Vec::new()).unwrap();
    let hidden = maker
        .call_method_proxy("hidden", vec![Object::Str("x".into())])
        .unwrap();
    assert_eq!(hidden.typeid(), "Hidden");
    assert_eq!(
        text(hidden.call_method("name", Vec::new()).unwrap()),
        "named x"
    );
    // The constructor's error comes back as the method's.
    let e = maker
        .call_method_proxy("hidden", vec![Object::Int(1)])
        .unwrap_err();
    assert_eq!(e.exception(), Some(Exception::TypeError));
}

/// Python's `QueueManager.register('get_queue')` then `m.connect()`: a client that knows the
/// typeid without a constructor, in another process, makes one and calls it.
fn connect_and_use_foo(address: String) -> (String, Option<Vec<String>>) {
    let m = BaseManager::builder()
        .address(address.parse().unwrap())
        .register_with("Foo1", Registration::without_constructor())
        .connect()
        .unwrap();
    let f1 = m.create("Foo1", Vec::new()).unwrap();
    let f = text(f1.call_method("f", Vec::new()).unwrap());
    (f, f1.exposed().unwrap())
}

fn a_client_registering_no_constructor_uses_the_servers_type(method: StartMethod) {
    let m = my_manager(method).start().unwrap();
    let child = get_context(method)
        .start(connect_and_use_foo, (m.address().to_string(),))
        .unwrap();
    let (f, exposed) = child.join().unwrap();
    assert_eq!(f, "you called Foo.f()");
    assert_eq!(sorted(exposed), ["f", "g"]);
}

/// Takes the rest of a generator's items.
fn drain(it: GeneratorProxy<u64>) -> Vec<u64> {
    it.map(Result::unwrap).collect()
}

fn a_generator_proxy_is_iterated_across_processes(method: StartMethod) {
    let m = my_manager(method).start().unwrap();
    // The documentation's loop.
    let it: GeneratorProxy<u64> = m.create_as("baz", Vec::new()).unwrap();
    assert_eq!(sorted(it.exposed().unwrap()), ["__next__"]);
    let mut out = String::new();
    for i in it {
        out += &format!("<{}> ", i.unwrap());
    }
    assert_eq!(
        out.trim_end(),
        "<0> <1> <4> <9> <16> <25> <36> <49> <64> <81>"
    );

    // One generator, two processes: each item is taken once.
    let mut it: GeneratorProxy<u64> = m.create_as("baz", Vec::new()).unwrap();
    let first: Vec<u64> = it.by_ref().take(3).map(Result::unwrap).collect();
    assert_eq!(first, [0, 1, 4]);
    let child = get_context(method).start(drain, (it.clone(),)).unwrap();
    assert_eq!(child.join().unwrap(), [9, 16, 25, 36, 49, 64, 81]);
    assert!(it.next().is_none(), "the child took the rest");
    assert!(it.next().is_none());
    // An unexposed method of a generator is refused.
    let e = it.call_method("send", Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}

fn errors_and_panics_come_back_and_the_server_goes_on(method: StartMethod) {
    let m = my_manager(method).start().unwrap();
    let boom = m.create("Boom", Vec::new()).unwrap();
    // A method's error: Python's exception, re-raised with its message.
    let e = boom.call_method("fail", Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(e.to_string(), "ValueError: bad input 3");
    // A method's panic: a remote error with its message and where it happened.
    let e = boom
        .call_method("explode", vec![Object::Int(3)])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote);
    let t = e.to_string();
    assert!(
        t.contains("the method 'explode' of 'Boom' panicked at "),
        "{t}"
    );
    assert!(t.contains("managers_registry.rs:"), "{t}");
    assert!(t.ends_with("Boom went off with [Int(3)]"), "{t}");
    // A panic while the call waits: a RuntimeError naming the method.
    let e = boom.call_method("explode_later", Vec::new()).unwrap_err();
    assert_eq!(e.exception(), Some(Exception::RuntimeError));
    let t = e.to_string();
    assert!(
        t.contains("the method 'explode_later' of 'Boom' panicked at "),
        "{t}"
    );
    assert!(
        t.contains("Boom went off while waiting (while it waited)"),
        "{t}"
    );
    // A constructor's panic, too.
    let e = m.create("Bomb", Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote);
    let t = e.to_string();
    assert!(t.contains("the constructor of 'Bomb' panicked at "), "{t}");
    assert!(t.ends_with("the bomb's constructor refuses"), "{t}");
    // The server goes on: the same object, and new ones, answer.
    assert_eq!(
        boom.call_method("ok", Vec::new()).unwrap(),
        Object::Bool(true)
    );
    let f1 = m.create("Foo1", Vec::new()).unwrap();
    assert_eq!(
        text(f1.call_method("f", Vec::new()).unwrap()),
        "you called Foo.f()"
    );
    assert_eq!(m.number_of_objects().unwrap(), 2);
}

per_method!(
    the_default_exposed_list_refuses_an_unexposed_method_naming_it,
    an_explicit_exposed_list_may_name_an_underscore_method,
    method_to_typeid_results_come_back_as_proxies,
    create_method_false_is_refused_by_name_but_made_by_another_method,
    a_client_registering_no_constructor_uses_the_servers_type,
    a_generator_proxy_is_iterated_across_processes,
    errors_and_panics_come_back_and_the_server_goes_on,
);
