//! The documentation's `register('operator', get_operator_module)`: Python's `operator` module
//! shared by a manager started under each start method, its functions called by name from this
//! process and from a child, its errors carried back with Python's class and message, and the
//! server serving on after them.

use multiprocessing::managers::{Exception, Object, Proxy, Raised, Shared, operator};
use multiprocessing::{ErrorKind, StartMethod, get_context};
use multiprocessing_tests::per_method;

fn get_operator_module(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
    Ok(Box::new(operator::module()))
}

/// In a child: `op.pow(2, 94)` and `op.mul('ab', 3)`, as Python would print them.
fn compute_in_child(op: Proxy) -> Vec<String> {
    let pow = op
        .call_method("pow", vec![2.into(), 94.into()])
        .expect("pow in the child");
    let mul = op
        .call_method("mul", vec!["ab".into(), 3.into()])
        .expect("mul in the child");
    vec![pow.to_string(), mul.to_string()]
}

fn the_operator_module_through_a_manager(method: StartMethod) {
    let ctx = get_context(method);
    let m = ctx
        .manager_builder()
        .register("operator", get_operator_module)
        .start()
        .unwrap();
    let op = m.create("operator", Vec::new()).unwrap();
    // The documentation's lines: `op.add(23, 45) = 68`, `op.pow(2, 94) = 1980...`.
    assert_eq!(
        op.call_method("add", vec![23.into(), 45.into()]).unwrap(),
        Object::Int(68)
    );
    assert_eq!(
        op.call_method("pow", vec![2.into(), 94.into()])
            .unwrap()
            .to_string(),
        "19807040628566084398385987584"
    );
    assert_eq!(op.repr().unwrap(), "<module 'operator' (built-in)>");

    // A function's exception crosses with its class and message, matchable by kind.
    let e = op
        .call_method("truediv", vec![1.into(), 0.into()])
        .unwrap_err();
    assert_eq!(e.exception(), Some(Exception::ZeroDivisionError));
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(e.to_string(), "ZeroDivisionError: division by zero");
    let e = op
        .call_method("lt", vec!["a".into(), 1.into()])
        .unwrap_err();
    assert_eq!(e.exception(), Some(Exception::TypeError));
    assert_eq!(
        e.to_string(),
        "TypeError: '<' not supported between instances of 'str' and 'int'"
    );
    // `op._exposed_`: the module's function names, sorted, as CPython 3.11 prints them.
    let exposed = op
        .exposed()
        .unwrap()
        .expect("a module restricts its methods");
    assert_eq!(exposed.len(), 55);
    assert_eq!(
        Object::tuple(exposed.iter().map(String::as_str)).to_string(),
        Object::tuple(operator::module().exposed().iter().copied()).to_string()
    );
    assert!(exposed.windows(2).all(|w| w[0] < w[1]), "{exposed:?}");
    assert_eq!(exposed[..3], ["abs", "add", "and_"]);
    // A name the module does not have is refused by the server, naming it.
    let e = op.call_method("no_such_function", Vec::new()).unwrap_err();
    assert_eq!(e.exception(), Some(Exception::AttributeError));
    assert!(e.to_string().contains("no_such_function"), "{e}");

    // A child process uses the same shared module through a proxy sent to it.
    let child = ctx.start(compute_in_child, (op.clone(),)).unwrap();
    assert_eq!(
        child.join().unwrap(),
        ["19807040628566084398385987584", "'ababab'"]
    );
    // The server served on after every error.
    assert_eq!(
        op.call_method("floordiv", vec![(-7).into(), 2.into()])
            .unwrap(),
        Object::Int(-4)
    );
}

per_method!(the_operator_module_through_a_manager);
