//! Talking to a CPython manager: [`connect`](crate::ManagerBuilder::connect) to the address
//! of a Python `BaseManager` / `SyncManager` server, with its authkey, and the usual proxies
//! work, with no other change in the program.
//!
//! ```no_run
//! // The Python side, the documentation's remote queue server:
//! //     class QueueManager(BaseManager): pass
//! //     QueueManager.register('get_queue', callable=lambda: queue)
//! //     m = QueueManager(address=('', 50000), authkey=b'abracadabra')
//! //     m.get_server().serve_forever()
//! use multiprocessing_managers::{AuthKey, BaseManager, ErrorKind, QueueProxy};
//!
//! let m = BaseManager::builder()
//!     .address("127.0.0.1:50000".parse().unwrap())
//!     .authkey(AuthKey::new(b"abracadabra".to_vec()))
//!     .connect()
//!     .unwrap();
//! // A registered callable (Python's `m.get_queue()`).
//! let q = QueueProxy::<String>::from_proxy(m.create("get_queue", Vec::new()).unwrap());
//! println!("{}", q.get().unwrap());
//! // The built-in types of a SyncManager server.
//! let d = m.dict().unwrap();
//! d.set("a", 1).unwrap();
//! let missing = d.get_item("b").unwrap_err(); // Python's KeyError('b'), as a typed error
//! assert_eq!(missing.kind(), ErrorKind::NotFound);
//! assert_eq!(missing.to_string(), "KeyError: 'b'");
//! ```
//!
//! # Telling the servers apart
//!
//! Every connection of ours first says `Hello` (a postcard message). Our server answers it in
//! postcard; a CPython server cannot unpickle it and answers with a pickled
//! `('#TRACEBACK', text)`, as every CPython from 3.8 to 3.13 does, then closes the connection.
//! A postcard reply never begins as a pickle does, so the first connection of a process's
//! session with a server tells which it is, at no cost to our own server; from then on the
//! session speaks the server's protocol. No option is needed, nor offered.
//!
//! # CPython's protocol
//!
//! Requests and replies are pickles (read by [`multiprocessing_pickle`], which never runs
//! code); object ids are Python's hex strings (a [`Token`]'s `id` holds the
//! number). As CPython requires, each control request (`create`, `incref`, `decref`,
//! `get_methods`, `number_of_objects`, `debug_info`, `dummy`, `shutdown`) has a new
//! authenticated connection of its own, answered once, and method calls go over *channels*
//! opened with `accept_connection(name)`, kept in the session's pool, one or more per thread:
//! a CPython server's lock belongs to the thread serving the channel, so a thread always
//! calls over channels it opened. A thread's channels stay in the pool when it ends (each
//! holds a serving thread in the server) until the session closes: a program that calls from
//! many short-lived threads holds as many channels.
//!
//! Our proxies' calls are translated where CPython's proxies call differently (a lock's
//! `acquire` without a timeout, a list's slices as `slice` objects, a barrier's properties
//! through `__getattribute__`); the rest is the same on both servers. Values travel as
//! [`Object::to_python`] / [`Object::from_python`] make them, so a Python value with no shape
//! here (a `set`, an instance of a Python class) arrives as an [`Object::Pickled`] and goes
//! back unchanged.
//!
//! References follow CPython's counts: `create` and a `#PROXY` reply (a `method_to_typeid`
//! method, such as iterating a dict) each give the new proxy the one reference the server
//! holds for it (CPython's proxy takes another and its maker drops one, which comes to the
//! same), a shared object found inside a value is adopted with an `incref`, and a proxy's last
//! clone to drop sends `decref`. Sending a proxy to another process takes a reference for the
//! journey (`incref`) that the receiver adopts. Unlike our server, a CPython server does not
//! release the references of a client process that dies.
//!
//! # Errors
//!
//! | CPython's reply | error |
//! |---|---|
//! | `('#ERROR', exc)` | [`Error::Raised`] with the exception's class and `str(exc)` ([`Raised::name`](crate::Raised::name) keeps a class of the peer's own) |
//! | `('#TRACEBACK', text)`, `('#UNSERIALIZABLE', text)` | [`Error::Remote`] with the text (Python's `RemoteError`) |
//! | another kind, or a shape that is not `(kind, payload)` | [`Error::Protocol`] |
//! | bytes that are not a pickle | [`Error::Codec`] |
//! | a reply longer than [`MAX_REPLY`] | an error of kind [`Protocol`](crate::ErrorKind::Protocol), before reading it |
//! | the server gone (mid-call too) | [`Error::ManagerGone`] |
//! | the wrong authkey | [`Error::Authentication`] |
//!
//! A control request's answer is awaited at most 30 seconds; a method call waits as long as
//! the method does (a queue's `get`), and ends as soon as the server dies.

use std::time::Duration;

use multiprocessing_connection::Connection;
use multiprocessing_core::identity;
use multiprocessing_pickle::{self as pickle, Value};

use crate::client::{CONNECT_TIMEOUT, Session};
use crate::error::{Error, Result};
use crate::object::{Object, Token};
use crate::protocol::{Raised, Reply, Request};

/// The longest reply accepted from a CPython server, in bytes: 1 GiB. A longer one is refused
/// from its header (the connection is then dropped), so a broken or hostile server cannot make
/// the client allocate without bound.
pub const MAX_REPLY: usize = 1 << 30;

/// How long a control request's answer may take.
const CONTROL_TIMEOUT: Duration = CONNECT_TIMEOUT;

/// Whether `bytes`, the answer to our `Hello`, is a CPython server refusing it: a pickled
/// `('#TRACEBACK', text)`.
pub(crate) fn is_refused_hello(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x80)
        && matches!(
            pickle::loads(bytes),
            Ok(Value::Tuple(t)) if matches!(t.as_slice(), [Value::Str(k), Value::Str(_)] if k == "#TRACEBACK")
        )
}

/// A request of ours, in CPython's protocol.
pub(crate) fn request(session: &Session, r: &Request<'_>) -> Result<Reply> {
    let hex = |id: u64| Value::Str(format!("{id:x}"));
    match r {
        Request::Hello { .. } | Request::Claim { .. } => Ok(Reply::Return(Object::None)),
        Request::Dummy => control(session, "dummy", Vec::new()),
        Request::Create { typeid, args } => {
            let mut a = vec![Value::from(*typeid)];
            a.extend(args.iter().map(Object::to_python));
            match control_value(session, "create", a)? {
                Value::Tuple(t) => match t.as_slice() {
                    [Value::Str(id), _exposed] => Ok(Reply::Proxy(Token {
                        typeid: (*typeid).to_owned(),
                        address: session.address_text().to_owned(),
                        id: parse_id(id)?,
                    })),
                    _ => Err(shape("create", &Value::Tuple(t))),
                },
                other => Err(shape("create", &other)),
            }
        }
        Request::Incref { id } => control(session, "incref", vec![hex(*id)]),
        Request::Decref { id } => control(session, "decref", vec![hex(*id)]),
        // The reference for the journey is a plain `incref`, which the receiver adopts.
        Request::Lend { id } => {
            control(session, "incref", vec![hex(*id)])?;
            Ok(Reply::Ticket(*id))
        }
        Request::Call {
            id, method, args, ..
        } => call(session, "", *id, method, args.clone()),
        Request::NumberOfObjects => control(session, "number_of_objects", Vec::new()),
        Request::DebugInfo => control(session, "debug_info", Vec::new()),
        Request::Shutdown => control(session, "shutdown", Vec::new()),
        Request::GetMethods { id } => {
            // CPython reads only the token's id.
            let token = Token {
                typeid: String::new(),
                address: session.address_text().to_owned(),
                id: *id,
            };
            match control_value(session, "get_methods", vec![token.to_python()])? {
                Value::Tuple(names) | Value::List(names) => Ok(Reply::Return(Object::List(
                    names.into_iter().map(Object::from_python).collect(),
                ))),
                other => Err(shape("get_methods", &other)),
            }
        }
        // Every CPython method channel is a caller of its own already.
        Request::Channel => Ok(Reply::Return(Object::None)),
    }
}

/// Calls `method` of the object `id` (of type `typeid`, `""` if unknown) over this thread's
/// channel.
pub(crate) fn call(
    session: &Session,
    typeid: &str,
    id: u64,
    method: &str,
    args: Vec<Object>,
) -> Result<Reply> {
    let (method, args) = translate(typeid, method, args);
    let message = encode(Some(id), method, args)?;
    let mut c = match session.take_own_idle() {
        Some(c) => c,
        None => Session::own_conn(channel(session)?),
    };
    c.conn
        .send_bytes(&message)
        .map_err(|e| session.map_err(e))?;
    // A method may wait as long as it likes (a queue's `get`); a dead server ends the wait.
    let bytes = c
        .conn
        .recv_bytes_max(MAX_REPLY)
        .map_err(|e| session.map_err(e))?;
    // A reply that cannot be read leaves the channel out of step: it is dropped.
    let reply = decode(&bytes)?;
    session.put_idle(c);
    Ok(reply)
}

/// A call as CPython's proxies make it, where ours differ (the one place that knows).
fn translate<'a>(typeid: &str, method: &'a str, mut args: Vec<Object>) -> (&'a str, Vec<Value>) {
    let method: &'a str = match (typeid, method) {
        // `AcquirerProxy.acquire(blocking, timeout=None)` sends no timeout rather than `None`,
        // which `threading.Lock.acquire` refuses.
        (_, "acquire") if matches!(args.as_slice(), [_, Object::None]) => {
            args.pop();
            "acquire"
        }
        // A barrier's properties are attributes for CPython's `BarrierProxy`.
        ("Barrier", "parties" | "n_waiting" | "broken") => {
            args = vec![Object::Str(method.to_owned())];
            "__getattribute__"
        }
        _ => return (method, python_args(typeid, method, args)),
    };
    (method, args.iter().map(Object::to_python).collect())
}

/// The arguments in Python's forms: a list's `(start, stop, step)` index is a `slice`.
fn python_args(typeid: &str, method: &str, args: Vec<Object>) -> Vec<Value> {
    let sliced = matches!(typeid, "list" | "Array")
        && matches!(method, "__getitem__" | "__setitem__" | "__delitem__");
    args.into_iter()
        .enumerate()
        .map(|(i, a)| match a {
            Object::Tuple(parts) if sliced && i == 0 && parts.len() == 3 => pickle::Object::reduce(
                "builtins",
                "slice",
                parts.iter().map(Object::to_python).collect(),
            )
            .into(),
            other => other.to_python(),
        })
        .collect()
}

/// Python's `(ident, methodname, args, kwargs)`.
fn encode(ident: Option<u64>, method: &str, args: Vec<Value>) -> Result<Vec<u8>> {
    let request = Value::Tuple(vec![
        ident.map_or(Value::None, |id| Value::Str(format!("{id:x}"))),
        Value::from(method),
        Value::Tuple(args),
        Value::Dict(Vec::new()),
    ]);
    pickle::dumps(&request).map_err(|e| Error::Codec(format!("a request for CPython: {e}")))
}

/// A CPython reply, `(kind, payload)`, as ours.
fn decode(bytes: &[u8]) -> Result<Reply> {
    let value = pickle::loads(bytes)
        .map_err(|e| Error::Codec(format!("a reply that is not a pickle: {e}")))?;
    let Value::Tuple(mut parts) = value else {
        return Err(Error::Protocol(format!(
            "a reply that is not a (kind, payload) tuple: {value}"
        )));
    };
    let (Some(payload), Some(Value::Str(kind)), None) = (parts.pop(), parts.pop(), parts.pop())
    else {
        return Err(Error::Protocol(format!(
            "a reply that is not a (kind, payload) tuple: {}",
            Value::Tuple(parts)
        )));
    };
    match (kind.as_str(), payload) {
        ("#RETURN", v) => Ok(Reply::Return(Object::from_python(v))),
        ("#ERROR", exc) => match Raised::from_python(&exc) {
            Some(r) => Ok(Reply::Error(r)),
            None => Err(Error::Protocol(format!(
                "an #ERROR reply without an exception: {exc}"
            ))),
        },
        ("#TRACEBACK", Value::Str(text)) => Ok(Reply::Traceback(text)),
        ("#UNSERIALIZABLE", Value::Str(text)) => {
            Ok(Reply::Traceback(format!("Unserializable message: {text}")))
        }
        ("#PROXY", Value::Tuple(p)) => match p.as_slice() {
            [_exposed, token] => match Token::from_python(token) {
                Some(t) => Ok(Reply::Proxy(t)),
                None => Err(Error::Protocol(format!(
                    "a #PROXY reply without a token: {token}"
                ))),
            },
            _ => Err(Error::Protocol(format!(
                "a #PROXY reply that is not (exposed, token): {}",
                Value::Tuple(p)
            ))),
        },
        (kind, payload) => Err(Error::Protocol(format!(
            "an unrecognized reply {kind:?} with {payload}"
        ))),
    }
}

/// Sends one control request on a connection of its own and returns the reply.
fn control(session: &Session, name: &str, args: Vec<Value>) -> Result<Reply> {
    let mut conn = session.connect_raw()?;
    exchange(session, &mut conn, name, args)
}

/// A control request's `#RETURN` value.
fn control_value(session: &Session, name: &str, args: Vec<Value>) -> Result<Value> {
    match control(session, name, args)? {
        Reply::Return(o) => Ok(o.to_python()),
        other => Err(crate::client::unexpected(other)),
    }
}

/// Sends a control request on `conn` and reads its one reply, by the control deadline.
fn exchange(
    session: &Session,
    conn: &mut Connection,
    name: &str,
    args: Vec<Value>,
) -> Result<Reply> {
    conn.send_bytes(&encode(None, name, args)?)
        .map_err(|e| session.map_err(e))?;
    if !conn
        .poll(Some(CONTROL_TIMEOUT))
        .map_err(|e| session.map_err(e))?
    {
        return Err(Error::Connection(
            multiprocessing_connection::Error::Timeout,
        ));
    }
    let bytes = conn
        .recv_bytes_max(MAX_REPLY)
        .map_err(|e| session.map_err(e))?;
    decode(&bytes)
}

/// A new method-call channel: a connection turned into one by `accept_connection(name)`, the
/// name being the process's, and `|thread` for a thread other than the main one (as CPython's
/// proxies name theirs).
fn channel(session: &Session) -> Result<Connection> {
    let mut name = identity::current().name;
    if let Some(thread) = std::thread::current().name()
        && thread != "main"
    {
        name = format!("{name}|{thread}");
    }
    let mut conn = session.connect_raw()?;
    match exchange(
        session,
        &mut conn,
        "accept_connection",
        vec![Value::Str(name)],
    )? {
        Reply::Return(_) => Ok(conn),
        other => Err(crate::client::unexpected(other)),
    }
}

/// The id of a CPython object, a hex string.
fn parse_id(id: &str) -> Result<u64> {
    u64::from_str_radix(id, 16)
        .map_err(|_| Error::Protocol(format!("an object id that is not hex: {id:?}")))
}

fn shape(request: &str, value: &Value) -> Error {
    Error::Protocol(format!(
        "an answer to {request} of the wrong shape: {value}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(kind: &str, payload: Value) -> Vec<u8> {
        pickle::dumps(&Value::Tuple(vec![Value::from(kind), payload])).unwrap()
    }

    #[test]
    fn replies_become_ours() {
        assert_eq!(
            decode(&reply("#RETURN", Value::Int(3))).unwrap(),
            Reply::Return(Object::Int(3))
        );
        let e = decode(&reply(
            "#ERROR",
            Value::exception("KeyError", [Value::from("k")]),
        ))
        .unwrap();
        let Reply::Error(r) = e else { panic!("{e:?}") };
        assert_eq!(r.to_string(), "KeyError: 'k'");
        assert_eq!(
            decode(&reply("#TRACEBACK", Value::from("tb"))).unwrap(),
            Reply::Traceback("tb".into())
        );
        let token = Token {
            typeid: "Iterator".into(),
            address: "/tmp/m".into(),
            id: 0x7f00,
        };
        let proxy = Value::Tuple(vec![Value::Tuple(Vec::new()), token.to_python()]);
        assert_eq!(
            decode(&reply("#PROXY", proxy)).unwrap(),
            Reply::Proxy(token)
        );
    }

    #[test]
    fn bad_replies_are_typed_errors() {
        use crate::ErrorKind;
        let kind = |bytes: &[u8]| decode(bytes).unwrap_err().kind();
        assert_eq!(kind(b"garbage"), ErrorKind::Codec);
        assert_eq!(kind(&reply("#SURPRISE", Value::None)), ErrorKind::Protocol);
        assert_eq!(kind(&reply("#ERROR", Value::Int(1))), ErrorKind::Protocol);
        assert_eq!(
            kind(&reply("#TRACEBACK", Value::Int(1))),
            ErrorKind::Protocol
        );
        assert_eq!(
            kind(&pickle::dumps(&Value::Int(1)).unwrap()),
            ErrorKind::Protocol
        );
    }

    #[test]
    fn our_calls_take_cpythons_forms() {
        let (m, a) = translate("Lock", "acquire", vec![Object::Bool(true), Object::None]);
        assert_eq!((m, a), ("acquire", vec![Value::Bool(true)]));
        let (m, a) = translate("Barrier", "parties", Vec::new());
        assert_eq!((m, a), ("__getattribute__", vec![Value::from("parties")]));
        let slice = Object::Tuple(vec![Object::Int(1), Object::None, Object::None]);
        let (_, a) = translate("list", "__getitem__", vec![slice.clone()]);
        assert_eq!(a[0].class(), Some(("builtins", "slice")));
        // A dict's key may be a 3-tuple.
        let (_, a) = translate("dict", "__getitem__", vec![slice]);
        assert!(matches!(a[0], Value::Tuple(_)));
    }

    #[test]
    fn only_a_pickled_traceback_is_a_refused_hello() {
        assert!(is_refused_hello(&reply("#TRACEBACK", Value::from("x"))));
        assert!(!is_refused_hello(&reply("#RETURN", Value::None)));
        assert!(!is_refused_hello(b"\x00\x01"));
    }
}
