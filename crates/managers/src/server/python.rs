//! CPython clients of our server: CPython's manager protocol, spoken on the connections whose
//! first message is a pickle.
//!
//! A CPython `BaseManager` / `SyncManager` that `connect()`s to our server authenticates as
//! with CPython's own (the handshake is the same) and then sends pickled requests
//! `(ident, methodname, args, kwargs)`; ours send postcard. The first frame tells them apart:
//! every pickle CPython's `Connection.send()` writes is of protocol 2 or later and starts with
//! the `PROTO` opcode, `0x80`, while our first message is a postcard [`Request::Hello`], whose
//! first byte is its variant index as a varint (0, and never `0x80`, which a varint writes
//! only for an index of 128 or more). So a CPython connection costs ours nothing.
//!
//! A CPython connection is served as CPython's server serves it (its wire protocol, §4):
//!
//! - a fresh connection carries one control request, `dummy`, `create` (with the constructor's
//!   arguments, keywords included; answered `(ident, exposed)`), `incref`, `decref`,
//!   `get_methods`, `number_of_objects`, `debug_info` or `shutdown` (answered twice, as
//!   CPython does), and is closed; `accept_connection` turns it into a method channel;
//! - a method channel carries calls, answered `#RETURN`, `#ERROR` (the exception instance),
//!   `#TRACEBACK` (text), `#PROXY` (`(exposed, Token)`, for a method whose result is shared,
//!   as iterating a dict gives an `Iterator`) or `#UNSERIALIZABLE`. A call that waits (a
//!   queue's `get`, a lock's `acquire`) waits without stalling anyone else.
//!
//! Object ids are our ids in hexadecimal; a `Token` in a reply carries our address in
//! Python's form. Values cross through [`Object::from_python`] and [`Object::to_python`]:
//! a proxy a CPython client stores in one of our containers is kept as a reference
//! ([`Object::Proxy`]), and what has no shape here (a set, a class instance) is kept as its
//! pickle and handed back unchanged. Unpickling never runs code.
//!
//! How their references are kept, and what differs from CPython's server: the
//! [server docs](super#cpython-clients).

use std::io;
use std::rc::Rc;

use multiprocessing_connection::frame;
use multiprocessing_pickle::{self as pickle, Limits, Value};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::{
    ReadBuf, Reply, Request, ServerState, Step, exposed_list, share_result, wait_or_hang_up,
};
use crate::object::{MAX_DEPTH, Object, Token};
use crate::protocol::{Exception, Raised};
use crate::shared::{Caller, Outcome, Shared, WaitFuture, collect_references, holds_references};

/// Whether a client's first message is a pickle: a CPython client.
pub(super) fn is_pickle(first: &[u8]) -> bool {
    first.first() == Some(&0x80)
}

/// What a request may cost to read: values nest no deeper than an [`Object`] may (so what is
/// stored can be read by every client), and the reader's budgets bound the rest.
fn limits() -> Limits {
    Limits {
        max_depth: MAX_DEPTH,
        ..Limits::default()
    }
}

/// Serves a CPython client's connection whose first frame is in `rb`, unread. `session` is
/// set to the channel's caller session once the connection is a method channel (the server
/// ends it when the connection closes).
pub(super) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    st: &ServerState,
    s: &mut S,
    rb: &mut ReadBuf,
    session: &mut Option<u64>,
) -> io::Result<()> {
    loop {
        let Some(range) = rb.next(s, st.max_message).await? else {
            return Ok(());
        };
        let request = parse(&rb.buf[range]);
        rb.consume();
        match *session {
            None => {
                let (replies, after) = control(st, request);
                if after == After::Stop {
                    // Stop whether or not the client stays to read both replies (it reads one
                    // and may have closed before the second).
                    st.stop.notify_one();
                }
                for r in &replies {
                    send(s, r).await?;
                }
                match after {
                    After::Close => return Ok(()),
                    After::Stop => {
                        s.flush().await?;
                        return Ok(());
                    }
                    After::Channel => *session = Some(super::fresh_caller(st)),
                }
            }
            Some(caller) => {
                let reply = match call(st, caller, request) {
                    PyStep::Now(v) => v,
                    PyStep::Wait(f, shared_as) => match wait_or_hang_up(f, s, rb).await? {
                        // The caller is gone: its call is cancelled.
                        None => return Ok(()),
                        Some(Ok(o)) => match shared_as {
                            None => reply_value(st, Reply::Return(o)),
                            Some(typeid) => {
                                let r = share_result(
                                    st,
                                    &mut st.state.borrow_mut(),
                                    st.python_session,
                                    &typeid,
                                    o,
                                );
                                reply_value(st, r)
                            }
                        },
                        Some(Err(e)) => reply_value(st, Reply::Error(e)),
                    },
                };
                send(s, &reply).await?;
            }
        }
    }
}

/// Sends one reply pickled, in one frame; a reply the writer refuses is sent as
/// `#UNSERIALIZABLE` (CPython's answer to a result it cannot pickle).
async fn send<S: AsyncWrite + Unpin>(s: &mut S, reply: &Value) -> io::Result<()> {
    let body = match pickle::dumps(reply) {
        Ok(b) => b,
        Err(e) => {
            let text = traceback_text(&format!("_pickle.PicklingError: {e}"));
            pickle::dumps(&kind_and("#UNSERIALIZABLE", Value::Str(text)))
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
        }
    };
    let (h, hl) = frame::encode_header(body.len(), 0);
    let mut out = Vec::with_capacity(hl + body.len());
    out.extend_from_slice(&h[..hl]);
    out.extend_from_slice(&body);
    s.write_all(&out).await
}

/// A request as CPython sends it: `(ident, methodname, args, kwds)`.
#[derive(Debug)]
struct PyRequest {
    ident: Value,
    method: String,
    args: Vec<Value>,
    kwargs: Vec<(String, Value)>,
}

/// Reads a request; an error is the Python exception line for the `#TRACEBACK`.
fn parse(bytes: &[u8]) -> Result<PyRequest, String> {
    let v = pickle::loads_with_limits(bytes, &limits())
        .map_err(|e| format!("_pickle.UnpicklingError: {e}"))?;
    let items = match v {
        Value::Tuple(items) | Value::List(items) => items,
        other => {
            return Err(format!(
                "TypeError: a request is (ident, methodname, args, kwds), not {}",
                type_name(&other)
            ));
        }
    };
    let n = items.len();
    let Ok([ident, method, args, kwargs]) = <[Value; 4]>::try_from(items) else {
        return Err(format!(
            "ValueError: a request is (ident, methodname, args, kwds): expected 4 values, got {n}"
        ));
    };
    let Value::Str(method) = method else {
        return Err(format!(
            "TypeError: a method name is a str, not {}",
            type_name(&method)
        ));
    };
    let args = match args {
        Value::Tuple(a) | Value::List(a) => a,
        other => {
            return Err(format!(
                "TypeError: the arguments are a tuple, not {}",
                type_name(&other)
            ));
        }
    };
    let kwargs = match kwargs {
        Value::Dict(pairs) => pairs
            .into_iter()
            .map(|(k, v)| match k {
                Value::Str(k) => Ok((k, v)),
                _ => Err("TypeError: keywords must be strings".to_string()),
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(format!(
                "TypeError: the keyword arguments are a dict, not {}",
                type_name(&other)
            ));
        }
    };
    Ok(PyRequest {
        ident,
        method,
        args,
        kwargs,
    })
}

fn type_name(v: &Value) -> String {
    crate::object::Pickled::new(v).map_or_else(|_| "a value".into(), |p| p.type_name())
}

/// CPython's traceback text for an exception line (`KeyError: 'x'`): what its client shows in
/// the `RemoteError`.
fn traceback_text(line: &str) -> String {
    format!(
        "Traceback (most recent call last):\n  (in the manager's server, multiprocessing-managers)\n{line}\n"
    )
}

/// `(kind, payload)`.
fn kind_and(kind: &str, payload: Value) -> Value {
    Value::Tuple(vec![Value::from(kind), payload])
}

fn traceback(line: &str) -> Value {
    kind_and("#TRACEBACK", Value::Str(traceback_text(line)))
}

fn returned(v: Value) -> Value {
    kind_and("#RETURN", v)
}

/// A reply of ours in CPython's form.
fn reply_value(st: &ServerState, reply: Reply) -> Value {
    match reply {
        Reply::Return(o) => returned(o.to_python()),
        Reply::Proxy(t) => kind_and(
            "#PROXY",
            Value::Tuple(vec![exposed_tuple(st, t.id), t.to_python()]),
        ),
        Reply::Error(e) => kind_and("#ERROR", e.to_python()),
        Reply::Traceback(t) => traceback(&t),
        Reply::Ticket(_) => traceback("RuntimeError: an unexpected reply"),
    }
}

/// An exception as the line of a traceback (`KeyError: 'x'`).
fn line(e: &Raised) -> String {
    e.to_string()
}

// ---------------------------------------------------------------------------------------------
// Control requests

/// What a connection does after a control request.
#[derive(Debug, PartialEq, Eq)]
enum After {
    Close,
    Channel,
    Stop,
}

/// Answers a control request (CPython's `Server._handle_request`): the replies to send, and
/// what becomes of the connection. An exception here is a `#TRACEBACK`, as in CPython.
fn control(st: &ServerState, request: Result<PyRequest, String>) -> (Vec<Value>, After) {
    let r = match request {
        Ok(r) => r,
        Err(line) => return (vec![traceback(&line)], After::Close),
    };
    let reply = |v: Value| (vec![v], After::Close);
    let py = st.python_session;
    let name = r.method.as_str();
    let no_kwargs = || -> Result<(), String> {
        if r.kwargs.is_empty() {
            Ok(())
        } else {
            Err(format!("TypeError: {name}() takes no keyword arguments"))
        }
    };
    let outcome = |step: Step| match step {
        Step::Now(Reply::Error(e)) => traceback(&line(&e)),
        Step::Now(other) => reply_value(st, other),
        Step::Wait(..) => traceback("RuntimeError: a control request cannot wait"),
    };
    match name {
        "dummy" => reply(returned(Value::None)),
        "accept_connection" => (vec![returned(Value::None)], After::Channel),
        "shutdown" => (
            vec![returned(Value::None), returned(Value::None)],
            After::Stop,
        ),
        "number_of_objects" => reply(outcome(super::handle_as(
            st,
            py,
            py,
            Request::NumberOfObjects,
        ))),
        "debug_info" => reply(outcome(super::handle_as(st, py, py, Request::DebugInfo))),
        "incref" | "decref" => {
            let id = match no_kwargs().and_then(|()| one_ident(name, &r.args)) {
                Ok(id) => id,
                Err(line) => return reply(traceback(&line)),
            };
            let request = if name == "incref" {
                Request::Incref { id }
            } else {
                Request::Decref { id }
            };
            reply(outcome(super::handle_as(st, py, py, request)))
        }
        "get_methods" => {
            let token = match (r.args.as_slice(), no_kwargs()) {
                (_, Err(line)) => return reply(traceback(&line)),
                ([t], Ok(())) => Token::from_python(t),
                _ => None,
            };
            match token {
                Some(t) if st.state.borrow().objects.contains_key(&t.id) => {
                    reply(returned(exposed_tuple(st, t.id)))
                }
                Some(t) => reply(traceback(&format!("KeyError: '{:x}'", t.id))),
                None => reply(traceback(
                    "TypeError: get_methods() takes one Token argument",
                )),
            }
        }
        "create" => reply(create(st, r)),
        other => reply(traceback(&format!(
            "AssertionError: {} unrecognized",
            Value::from(other)
        ))),
    }
}

/// The one argument of `incref` / `decref`: an object id in hexadecimal.
fn one_ident(name: &str, args: &[Value]) -> Result<u64, String> {
    match args {
        [Value::Str(id)] => {
            u64::from_str_radix(id, 16).map_err(|_| format!("KeyError: {}", Value::from(&**id)))
        }
        [other] => Err(format!("KeyError: {other}")),
        _ => Err(format!(
            "TypeError: {name}() takes 1 positional argument but {} were given",
            args.len()
        )),
    }
}

/// `create(typeid, *args, **kwds)`: `(ident, exposed)`, the object held by the CPython
/// clients' session.
fn create(st: &ServerState, r: PyRequest) -> Value {
    let mut args = r.args.into_iter();
    let typeid = match args.next() {
        Some(Value::Str(t)) => t,
        _ => return traceback("TypeError: create() needs a typeid (a str)"),
    };
    let args: Vec<Object> = args.map(Object::from_python).collect();
    let kwargs = from_python_kwargs(r.kwargs);
    let kind = Kind::of_typeid(&typeid);
    let mut args = match arrange(kind, &typeid, "__init__", args, kwargs) {
        Ok(a) => a,
        Err(e) => return traceback(&line(&e)),
    };
    if kind == Some(Kind::Condition) {
        // `Condition(lock)`: ours finds the lock by its sync id.
        if let [Object::Proxy(t)] = args.as_slice()
            && let Some(id) = sync_id(st, t.id)
        {
            args.push(id);
        }
    }
    let py = st.python_session;
    match super::handle_as(
        st,
        py,
        py,
        Request::Create {
            typeid: &typeid,
            args,
        },
    ) {
        Step::Now(Reply::Proxy(t)) => returned(Value::Tuple(vec![
            Value::Str(format!("{:x}", t.id)),
            exposed_tuple(st, t.id),
        ])),
        Step::Now(Reply::Error(e)) => traceback(&line(&e)),
        Step::Now(other) => reply_value(st, other),
        Step::Wait(..) => traceback("RuntimeError: a constructor cannot wait"),
    }
}

/// The sync id of the lock `id` (for a `Condition` over it).
fn sync_id(st: &ServerState, id: u64) -> Option<Object> {
    let mut state = st.state.borrow_mut();
    let e = state.objects.get_mut(&id)?;
    match e.object.call("_sync_id", Vec::new(), Caller::new(0, 0)) {
        Ok(Outcome::Return(o @ Object::Int(_))) => Some(o),
        _ => None,
    }
}

fn from_python_kwargs(kwargs: Vec<(String, Value)>) -> Vec<(String, Object)> {
    kwargs
        .into_iter()
        .map(|(k, v)| (k, Object::from_python(v)))
        .collect()
}

/// The methods a CPython proxy of object `id` may call, as a tuple of names (CPython's
/// `exposed`, with the `method_to_typeid` methods after them).
fn exposed_tuple(st: &ServerState, id: u64) -> Value {
    let state = st.state.borrow();
    let Some(e) = state.objects.get(&id) else {
        return Value::Tuple(Vec::new());
    };
    let names: Vec<String> = match Kind::of_typeid(&e.typeid) {
        Some(k) => k.exposed_with_shared(),
        None => match super::caught(
            || "its exposed list".into(),
            || exposed_list(e.rules.as_deref(), &*e.object),
        ) {
            Ok(Some(l)) => l,
            // No list: the public methods of the Python class it stands for, if it is one.
            _ => super::caught(|| "its repr".into(), || e.object.repr())
                .ok()
                .and_then(|r| Kind::of_repr(&r))
                .map(Kind::exposed_with_shared)
                .unwrap_or_default(),
        },
    };
    Value::Tuple(names.into_iter().map(Value::Str).collect())
}

// ---------------------------------------------------------------------------------------------
// Method calls

/// What a method call comes to: a reply now, or a wait.
enum PyStep {
    Now(Value),
    Wait(WaitFuture, Option<Rc<str>>),
}

/// The three names every object answers, exposed or not (CPython's `fallback_mapping`).
const FALLBACKS: &[&str] = &["__str__", "__repr__", "#GETVALUE"];

/// Answers a call on a method channel (CPython's `Server.serve_client`), as `caller`.
fn call(st: &ServerState, caller: u64, request: Result<PyRequest, String>) -> PyStep {
    let r = match request {
        Ok(r) => r,
        Err(line) => return PyStep::Now(traceback(&line)),
    };
    let id = match &r.ident {
        Value::Str(s) => u64::from_str_radix(s, 16).ok(),
        _ => None,
    };
    let found = id.and_then(|id| {
        let state = st.state.borrow();
        let e = state.objects.get(&id)?;
        Some((id, e.typeid.clone()))
    });
    let Some((id, typeid)) = found else {
        return PyStep::Now(traceback(&format!("KeyError: {}", r.ident)));
    };
    let method = r.method.as_str();
    let kind = Kind::of_typeid(&typeid);
    if let Some(k) = kind
        && !k.exposed().contains(&method)
        && !FALLBACKS.contains(&method)
    {
        let exposed = Value::Tuple(k.exposed().iter().map(|m| Value::from(*m)).collect());
        return PyStep::Now(traceback(&format!(
            "AttributeError: method {} of '{typeid}' object is not in exposed={exposed}",
            Value::from(method)
        )));
    }
    let args: Vec<Object> = r.args.into_iter().map(Object::from_python).collect();
    let kwargs = from_python_kwargs(r.kwargs);
    // A type we know by its typeid, or else (for keywords only) by what it is.
    let params_kind = match kind {
        None if !kwargs.is_empty() => repr_kind(st, id),
        k => k,
    };
    let args = match arrange(params_kind, &typeid, method, args, kwargs) {
        Ok(a) => a,
        Err(e) => return PyStep::Now(kind_and("#ERROR", e.to_python())),
    };
    match (kind, method) {
        (Some(Kind::Dict), "__iter__") => return PyStep::Now(iterate(st, id)),
        (Some(Kind::Namespace), "#GETVALUE") => return PyStep::Now(namespace_value(st, id)),
        (Some(Kind::List), "__add__" | "__mul__" | "__rmul__" | "__reversed__") => {
            return PyStep::Now(list_operator(st, id, method, args));
        }
        (Some(Kind::Barrier), "__getattribute__") => {
            return match args.as_slice() {
                [Object::Str(name)] if matches!(&**name, "parties" | "n_waiting" | "broken") => {
                    let name = name.clone();
                    now_or_wait(st, caller, id, &name, Vec::new())
                }
                _ => PyStep::Now(kind_and(
                    "#ERROR",
                    Raised::new(
                        Exception::AttributeError,
                        format!("'Barrier' object has no attribute {}", args_repr(&args)),
                    )
                    .to_python(),
                )),
            };
        }
        (Some(Kind::List | Kind::Array), "__getitem__" | "__setitem__" | "__delitem__") => {
            match slices(args) {
                Ok(args) => return now_or_wait(st, caller, id, method, args),
                Err(e) => return PyStep::Now(kind_and("#ERROR", e.to_python())),
            }
        }
        (Some(Kind::Dict), "__getitem__" | "__delitem__" | "pop") => {
            // CPython's `KeyError` carries the key itself (`KeyError(1)`, not `KeyError('1')`).
            let key = args.first().cloned();
            return match now_or_wait(st, caller, id, method, args) {
                PyStep::Now(v) => match (key, pair_of(&v)) {
                    (Some(key), Some(("#ERROR", e)))
                        if e.class() == Some(("builtins", "KeyError")) =>
                    {
                        PyStep::Now(kind_and(
                            "#ERROR",
                            pickle::Object::reduce("builtins", "KeyError", vec![key.to_python()])
                                .into(),
                        ))
                    }
                    _ => PyStep::Now(v),
                },
                wait => wait,
            };
        }
        _ => {}
    }
    now_or_wait(st, caller, id, method, args)
}

/// A reply's kind and payload.
fn pair_of(v: &Value) -> Option<(&str, &Value)> {
    match v {
        Value::Tuple(t) if t.len() == 2 => Some((t[0].as_str()?, &t[1])),
        _ => None,
    }
}

fn args_repr(args: &[Object]) -> String {
    args.first().map(ToString::to_string).unwrap_or_default()
}

/// Calls `method` through the server's own path (exposed lists, waits, shared results).
fn now_or_wait(st: &ServerState, caller: u64, id: u64, method: &str, args: Vec<Object>) -> PyStep {
    let py = st.python_session;
    match super::handle_as(
        st,
        py,
        caller,
        Request::Call {
            id,
            thread: 0,
            method,
            args,
        },
    ) {
        Step::Now(reply) => PyStep::Now(reply_value(st, reply)),
        Step::Wait(f, shared_as) => PyStep::Wait(f, shared_as),
    }
}

/// The kind of object `id` by its repr, for a typeid we do not know (a registered callable
/// returning one of our queues, say).
fn repr_kind(st: &ServerState, id: u64) -> Option<Kind> {
    let state = st.state.borrow();
    let e = state.objects.get(&id)?;
    let r = super::caught(|| "its repr".into(), || e.object.repr()).ok()?;
    Kind::of_repr(&r)
}

/// CPython's `slice` objects in a list index, as ours (`(start, stop, step)`); a tuple is
/// not an index in Python.
fn slices(mut args: Vec<Object>) -> Result<Vec<Object>, Raised> {
    if let Some(first) = args.first_mut() {
        match first {
            Object::Tuple(_) => {
                return Err(Raised::new(
                    Exception::TypeError,
                    "list indices must be integers or slices, not tuple",
                ));
            }
            Object::Pickled(p) => {
                if let Value::Object(o) = p.value()
                    && o.class.module == "builtins"
                    && o.class.name == "slice"
                    && o.args.len() == 3
                {
                    *first = Object::Tuple(o.args.into_iter().map(Object::from_python).collect());
                }
            }
            _ => {}
        }
    }
    Ok(args)
}

/// `iter(d)`: a new shared `Iterator` over the dict's keys, answered `#PROXY` (CPython's
/// `DictProxy._method_to_typeid_`).
fn iterate(st: &ServerState, id: u64) -> Value {
    let py = st.python_session;
    let keys = {
        let mut state = st.state.borrow_mut();
        let Some(e) = state.objects.get_mut(&id) else {
            return traceback(&format!("KeyError: '{id:x}'"));
        };
        match super::caught(
            || "the keys of a 'dict'".into(),
            || e.object.call("keys", Vec::new(), Caller::new(py, 0)),
        ) {
            Ok(Ok(Outcome::Return(Object::List(keys)))) => keys,
            Ok(Err(e)) => return kind_and("#ERROR", e.to_python()),
            Err(Reply::Traceback(t)) => return traceback(&t),
            _ => return traceback("TypeError: the dict's keys are not a list"),
        }
    };
    let holds = keys.iter().any(holds_references);
    let new = {
        let mut state = st.state.borrow_mut();
        let new = state.insert(
            "Iterator".into(),
            None,
            Box::new(KeyIterator(keys.into_iter())),
            py,
        );
        if holds {
            state.mark_holder(new);
        }
        new
    };
    reply_value(
        st,
        Reply::Proxy(Token {
            typeid: "Iterator".into(),
            address: st.address.clone(),
            id: new,
        }),
    )
}

/// A `Namespace`'s value as CPython pickles one: a `multiprocessing.managers.Namespace`
/// instance with its attributes as state.
fn namespace_value(st: &ServerState, id: u64) -> Value {
    let value = {
        let state = st.state.borrow();
        let Some(e) = state.objects.get(&id) else {
            return traceback(&format!("KeyError: '{id:x}'"));
        };
        match super::caught(|| "its value".into(), || e.object.value()) {
            Ok(v) => v,
            Err(Reply::Traceback(t)) => return traceback(&t),
            Err(_) => return traceback("RuntimeError: its value"),
        }
    };
    returned(
        pickle::Object::new_obj("multiprocessing.managers", "Namespace", Vec::new())
            .state(value.to_python())
            .into(),
    )
}

/// `l + x`, `l * n`, `n * l` and `reversed(l)` of a list proxy: new lists (CPython's list
/// methods, which ours leave to Python's side).
fn list_operator(st: &ServerState, id: u64, method: &str, args: Vec<Object>) -> Value {
    let items = {
        let state = st.state.borrow();
        match state.objects.get(&id).map(|e| e.object.value()) {
            Some(Object::List(items)) => items,
            _ => return traceback(&format!("KeyError: '{id:x}'")),
        }
    };
    let error = |m: String| kind_and("#ERROR", Raised::new(Exception::TypeError, m).to_python());
    let result = match (method, args.as_slice()) {
        ("__add__", [Object::List(more)]) => {
            items.into_iter().chain(more.iter().cloned()).collect()
        }
        ("__add__", [other]) => {
            return error(format!(
                "can only concatenate list (not \"{}\") to list",
                other.type_name()
            ));
        }
        ("__mul__" | "__rmul__", [Object::Int(n)]) => {
            let n = usize::try_from(*n).unwrap_or(0);
            if items.len().saturating_mul(n) > MAX_REPEAT {
                return kind_and(
                    "#ERROR",
                    Raised::new(Exception::OverflowError, "the repeated list is too long")
                        .to_python(),
                );
            }
            std::iter::repeat_n(items, n).flatten().collect()
        }
        ("__reversed__", []) => items.into_iter().rev().collect(),
        _ => return error(format!("{method}() takes one argument")),
    };
    returned(Object::List(result).to_python())
}

/// The longest list `l * n` makes (a small request must not ask for gigabytes).
const MAX_REPEAT: usize = 1 << 24;

/// The keys of a dict being iterated by a CPython client: its `__next__` answers them in
/// turn, then raises `StopIteration`.
struct KeyIterator(std::vec::IntoIter<Object>);

impl Shared for KeyIterator {
    fn call(&mut self, method: &str, _: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        match method {
            "__next__" => match self.0.next() {
                Some(k) => Ok(Outcome::Return(k)),
                None => Err(Raised::new(Exception::StopIteration, "")),
            },
            _ => Err(crate::types::no_method("dict_keyiterator", method)),
        }
    }

    fn value(&self) -> Object {
        Object::List(self.0.as_slice().to_vec())
    }

    fn repr(&self) -> String {
        "<dict_keyiterator object>".into()
    }

    fn exposed(&self) -> Option<&[&'static str]> {
        Some(&["__next__"])
    }

    fn references(&self, out: &mut Vec<u64>) {
        self.0
            .as_slice()
            .iter()
            .for_each(|o| collect_references(o, out));
    }
}

// ---------------------------------------------------------------------------------------------
// The Python classes we serve, their exposed methods and their parameters

/// The CPython class a shared object stands for, which decides the methods a CPython proxy
/// calls and the names of their parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dict,
    List,
    Namespace,
    Value,
    Array,
    Queue,
    /// `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore` (CPython's `AcquirerProxy`).
    Acquirer,
    Condition,
    Event,
    Barrier,
    Iterator,
}

impl Kind {
    /// The class of a `SyncManager` typeid, as CPython's client picks its proxy type.
    fn of_typeid(typeid: &str) -> Option<Kind> {
        Some(match typeid {
            "dict" => Kind::Dict,
            "list" => Kind::List,
            "Namespace" => Kind::Namespace,
            "Value" => Kind::Value,
            "Array" => Kind::Array,
            "Queue" | "JoinableQueue" => Kind::Queue,
            "Lock" | "RLock" | "Semaphore" | "BoundedSemaphore" => Kind::Acquirer,
            "Condition" => Kind::Condition,
            "Event" => Kind::Event,
            "Barrier" => Kind::Barrier,
            "Iterator" => Kind::Iterator,
            _ => return None,
        })
    }

    /// The class of one of our objects by its repr, which is Python's (`<queue.Queue ...>`).
    fn of_repr(repr: &str) -> Option<Kind> {
        let starts = |p: &[&str]| p.iter().any(|p| repr.starts_with(p));
        Some(if starts(&["<queue."]) {
            Kind::Queue
        } else if starts(&[
            "<unlocked _thread.",
            "<locked _thread.",
            "<threading.Semaphore",
            "<threading.BoundedSemaphore",
        ]) {
            Kind::Acquirer
        } else if starts(&["<Condition("]) {
            Kind::Condition
        } else if starts(&["<threading.Event"]) {
            Kind::Event
        } else if starts(&["<threading.Barrier"]) {
            Kind::Barrier
        } else if starts(&["Namespace("]) {
            Kind::Namespace
        } else if starts(&["Value("]) {
            Kind::Value
        } else if starts(&["array("]) {
            Kind::Array
        } else if starts(&["["]) {
            Kind::List
        } else if starts(&["{"]) {
            Kind::Dict
        } else {
            return None;
        })
    }

    /// CPython's exposed list for the class (its proxy type's `_exposed_`; a queue's public
    /// methods).
    fn exposed(self) -> &'static [&'static str] {
        match self {
            Kind::Dict => &[
                "__contains__",
                "__delitem__",
                "__getitem__",
                "__iter__",
                "__len__",
                "__setitem__",
                "clear",
                "copy",
                "get",
                "items",
                "keys",
                "pop",
                "popitem",
                "setdefault",
                "update",
                "values",
            ],
            Kind::List => &[
                "__add__",
                "__contains__",
                "__delitem__",
                "__getitem__",
                "__len__",
                "__mul__",
                "__reversed__",
                "__rmul__",
                "__setitem__",
                "append",
                "count",
                "extend",
                "index",
                "insert",
                "pop",
                "remove",
                "reverse",
                "sort",
                "__imul__",
            ],
            Kind::Namespace => &["__getattribute__", "__setattr__", "__delattr__"],
            Kind::Value => &["get", "set"],
            Kind::Array => &["__len__", "__getitem__", "__setitem__"],
            Kind::Queue => &[
                "empty",
                "full",
                "get",
                "get_nowait",
                "join",
                "put",
                "put_nowait",
                "qsize",
                "task_done",
            ],
            Kind::Acquirer => &["acquire", "release"],
            Kind::Condition => &["acquire", "release", "wait", "notify", "notify_all"],
            Kind::Event => &["is_set", "set", "clear", "wait"],
            Kind::Barrier => &["__getattribute__", "wait", "abort", "reset"],
            Kind::Iterator => &["__next__", "send", "throw", "close"],
        }
    }

    /// The exposed list as `create` answers it: with the `method_to_typeid` methods after it
    /// (a dict's `__iter__` twice, as CPython lists it).
    fn exposed_with_shared(self) -> Vec<String> {
        let mut l: Vec<String> = self.exposed().iter().map(|m| (*m).to_string()).collect();
        if self == Kind::Dict {
            l.push("__iter__".into());
        }
        l
    }
}

/// What becomes of one of CPython's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Passed on, at its place.
    Pass,
    /// Accepted and left out (`Value(typecode, value, lock=True)`'s `lock`).
    Ignore,
    /// Refused unless `None`, and left out (a function that would run in the server).
    NoneOnly,
}

/// How a method's keyword arguments become our positional ones.
#[derive(Debug, Clone, Copy)]
enum Params {
    /// CPython's parameters in order, each with its [`Use`]; ours take the passed ones in the
    /// same order.
    Named(&'static [(&'static str, Use)]),
    /// The keywords are a mapping (`dict(**kw)`, `d.update(**kw)`, `Namespace(**kw)`).
    Mapping,
}

const P: Use = Use::Pass;

/// The parameters of each method (`__init__`: the constructor) a CPython client may name by
/// keyword, per class. A method not listed takes no keywords, as CPython's built-in ones.
const PARAMETERS: &[(Kind, &str, Params)] = &[
    (Kind::Dict, "__init__", Params::Mapping),
    (Kind::Dict, "update", Params::Mapping),
    (Kind::Namespace, "__init__", Params::Mapping),
    (
        Kind::List,
        "sort",
        Params::Named(&[("key", Use::NoneOnly), ("reverse", P)]),
    ),
    (
        Kind::Value,
        "__init__",
        Params::Named(&[("typecode", P), ("value", P), ("lock", Use::Ignore)]),
    ),
    (Kind::Value, "set", Params::Named(&[("value", P)])),
    (
        Kind::Array,
        "__init__",
        Params::Named(&[("typecode", P), ("sequence", P), ("lock", Use::Ignore)]),
    ),
    (Kind::Queue, "__init__", Params::Named(&[("maxsize", P)])),
    (
        Kind::Queue,
        "put",
        Params::Named(&[("item", P), ("block", P), ("timeout", P)]),
    ),
    (Kind::Queue, "put_nowait", Params::Named(&[("item", P)])),
    (
        Kind::Queue,
        "get",
        Params::Named(&[("block", P), ("timeout", P)]),
    ),
    (Kind::Acquirer, "__init__", Params::Named(&[("value", P)])),
    (
        Kind::Acquirer,
        "acquire",
        Params::Named(&[("blocking", P), ("timeout", P)]),
    ),
    (Kind::Condition, "__init__", Params::Named(&[("lock", P)])),
    (
        Kind::Condition,
        "acquire",
        Params::Named(&[("blocking", P), ("timeout", P)]),
    ),
    (Kind::Condition, "wait", Params::Named(&[("timeout", P)])),
    (Kind::Condition, "notify", Params::Named(&[("n", P)])),
    (Kind::Event, "wait", Params::Named(&[("timeout", P)])),
    (
        Kind::Barrier,
        "__init__",
        Params::Named(&[("parties", P), ("action", Use::NoneOnly), ("timeout", P)]),
    ),
    (Kind::Barrier, "wait", Params::Named(&[("timeout", P)])),
];

fn type_error(m: impl Into<String>) -> Raised {
    Raised::new(Exception::TypeError, m)
}

/// A CPython call's positional and keyword arguments as our positional ones, by
/// [`PARAMETERS`]. Without keywords and with nothing to leave out, the arguments pass as they
/// are.
fn arrange(
    kind: Option<Kind>,
    typeid: &str,
    method: &str,
    args: Vec<Object>,
    kwargs: Vec<(String, Object)>,
) -> Result<Vec<Object>, Raised> {
    let params = kind.and_then(|k| {
        PARAMETERS
            .iter()
            .find(|(pk, m, _)| *pk == k && *m == method)
            .map(|(_, _, p)| *p)
    });
    let what = if method == "__init__" { typeid } else { method };
    match params {
        None if kwargs.is_empty() => Ok(args),
        None => Err(type_error(format!("{what}() takes no keyword arguments"))),
        Some(Params::Mapping) => {
            if kwargs.is_empty() {
                return Ok(args);
            }
            let kw = kwargs.into_iter().map(|(k, v)| (Object::Str(k), v));
            let mut args = args;
            match args.as_mut_slice() {
                [] => Ok(vec![Object::Dict(kw.collect())]),
                [Object::Dict(d)] => {
                    d.extend(kw);
                    Ok(args)
                }
                [Object::List(pairs) | Object::Tuple(pairs)] => {
                    pairs.extend(kw.map(|(k, v)| Object::Tuple(vec![k, v])));
                    Ok(args)
                }
                [_] => Ok(args),
                _ => Err(type_error(format!(
                    "{what}() expected at most 1 argument, got {}",
                    args.len()
                ))),
            }
        }
        Some(Params::Named(names)) => {
            if kwargs.is_empty() && names.iter().all(|(_, u)| *u == Use::Pass) {
                return Ok(args);
            }
            let mut slots: Vec<Option<Object>> = args.into_iter().map(Some).collect();
            if slots.len() > names.len() {
                return Err(type_error(format!(
                    "{what}() takes at most {} arguments ({} given)",
                    names.len(),
                    slots.len()
                )));
            }
            slots.resize(names.len(), None);
            for (k, v) in kwargs {
                let Some(i) = names.iter().position(|(n, _)| *n == k) else {
                    return Err(type_error(format!(
                        "{what}() got an unexpected keyword argument '{k}'"
                    )));
                };
                if slots[i].is_some() {
                    return Err(type_error(format!(
                        "{what}() got multiple values for argument '{k}'"
                    )));
                }
                slots[i] = Some(v);
            }
            let mut out = Vec::with_capacity(names.len());
            let mut given = 0;
            for ((name, u), slot) in names.iter().zip(slots) {
                match u {
                    Use::Pass => {
                        if slot.is_some() {
                            given = out.len() + 1;
                        }
                        out.push(slot.unwrap_or(Object::None));
                    }
                    Use::Ignore => {}
                    Use::NoneOnly => {
                        if slot.is_some_and(|o| o != Object::None) {
                            return Err(type_error(format!(
                                "{what}(): '{name}' would run Python code in the manager's \
                                 server, which is not Python; only None is accepted"
                            )));
                        }
                    }
                }
            }
            // Absent trailing parameters stay absent (their defaults are ours).
            out.truncate(given);
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests;
