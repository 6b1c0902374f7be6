//! The manager's messages, I/O-free: what a client asks ([`Request`]) and what the server
//! answers ([`Reply`]), encoded with postcard.
//!
//! The structure is CPython's manager protocol (a request names an object, a method and its
//! arguments; a reply is `#RETURN`, `#ERROR`, `#TRACEBACK` or `#PROXY`), with one difference:
//! control requests (`create`, `incref`, `decref`, ...) ride the same long-lived, authenticated
//! connection as method calls. CPython opens a new authenticated connection for each of them,
//! two more per proxy made; over TCP each costs a handshake and, without `TCP_NODELAY`, about
//! 43 ms.
//!
//! Every connection first says which client *session* it belongs to ([`Request::Hello`]): a
//! session is one process's connections to this manager, and it holds that process's
//! references. When a session's last connection closes (its process exited or was killed), its
//! references are released, so nothing leaks.
//!
//! ```
//! use multiprocessing_managers::protocol::{Request, Reply, decode_request, encode_request};
//! let call = Request::Call { id: 7, thread: 1, method: "__len__", args: Vec::new() };
//! let bytes = encode_request(&call).unwrap();
//! match decode_request(&bytes).unwrap() {
//!     Request::Call { id, method, .. } => assert_eq!((id, method), (7, "__len__")),
//!     _ => unreachable!(),
//! }
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::object::{Object, Token};

/// A client's request. Borrowed from the received bytes where it can be, so decoding a method
/// call allocates only for its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Request<'a> {
    /// The first request on every connection: the client's session (one per process and
    /// manager, random) and a name for logs (Python's `accept_connection(name)`).
    Hello {
        /// The session this connection belongs to.
        session: u64,
        /// The client's process name.
        #[serde(borrow)]
        name: &'a str,
    },
    /// Does nothing; proves the server answers (Python's `dummy`, sent by `connect()`).
    Dummy,
    /// Makes a shared object of a registered type; the session holds one reference to it.
    /// Answered with [`Reply::Proxy`].
    Create {
        /// The registered type name.
        #[serde(borrow)]
        typeid: &'a str,
        /// The constructor's arguments.
        #[serde(with = "wire_objects")]
        args: Vec<Object>,
    },
    /// One more reference for this session.
    Incref {
        /// The object.
        id: u64,
    },
    /// One reference fewer for this session; at no references left anywhere, the object goes.
    Decref {
        /// The object.
        id: u64,
    },
    /// Moves one of this session's references into a ticket, for a proxy being sent to
    /// another process ([`Reply::Ticket`]). See [`Request::Claim`].
    Lend {
        /// The object.
        id: u64,
    },
    /// Moves a ticket's reference to this session (the receiver of a sent proxy). A ticket
    /// claimed already, or expired, is answered with an error.
    Claim {
        /// The ticket, from [`Reply::Ticket`].
        ticket: u64,
    },
    /// Calls a method of a shared object (Python's `(ident, methodname, args, kwargs)`).
    Call {
        /// The object.
        id: u64,
        /// The calling thread within the client (for types that track owners).
        thread: u64,
        /// The method's name.
        #[serde(borrow)]
        method: &'a str,
        /// Its arguments.
        #[serde(with = "wire_objects")]
        args: Vec<Object>,
    },
    /// The number of live shared objects (Python's `_number_of_objects`), for tests.
    NumberOfObjects,
    /// A text listing each object and its references (Python's `_debug_info`).
    DebugInfo,
    /// Stops the server after answering.
    Shutdown,
    /// The methods a proxy may call on the object (Python's `get_methods`, a proxy's
    /// `_exposed_`): a list of `str`, or `None` when every method the type answers may be
    /// called.
    GetMethods {
        /// The object.
        id: u64,
    },
    /// Makes this connection a caller of its own: the calls sent on it after this are made
    /// by a fresh caller (a caller session of the connection's own, as a CPython method
    /// channel's), and when the connection closes the server releases what that caller held
    /// (a lock it acquired, a wait it was in), as it does for a process that dies. The
    /// references the calls take stay the connection's session's. An async lock acquisition
    /// holds its lock on such a connection, so a task that moves between threads owns it, and
    /// a hold whose reply was lost (a dropped future) is released with the connection.
    Channel,
}

/// The server's answer to one [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Reply {
    /// The result (Python's `#RETURN`). A shared object inside it ([`Object::Proxy`]) holds no
    /// reference for the caller until a proxy adopts it (an `Incref`), as in CPython.
    Return(#[serde(with = "crate::object::wire")] Object),
    /// A new shared object, one reference held for the caller's session (Python's `#PROXY`).
    Proxy(#[serde(with = "wire_token")] Token),
    /// A reference lent for transit ([`Request::Lend`]).
    Ticket(u64),
    /// The method raised one of Python's exceptions (Python's `#ERROR`).
    Error(Raised),
    /// The request failed in the server itself: an unknown object or method, a malformed
    /// request (Python's `#TRACEBACK`, a `RemoteError` in the client).
    Traceback(String),
}

/// Python's exception classes that a shared object's method raises, to be matched by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Exception {
    /// A key not in a mapping.
    KeyError,
    /// An index out of range.
    IndexError,
    /// A value of the right type but wrong content (`list.remove` of a missing item, ...).
    ValueError,
    /// An argument of the wrong type or count.
    TypeError,
    /// No such method or attribute.
    AttributeError,
    /// An iterator has no more items.
    StopIteration,
    /// A call timed out (a manager `Lock.acquire(timeout=...)`, say).
    TimeoutError,
    /// Anything else.
    RuntimeError,
    /// A queue had nothing to take (Python's `queue.Empty`).
    Empty,
    /// A bounded queue had no room (Python's `queue.Full`).
    Full,
    /// A barrier is broken (Python's `threading.BrokenBarrierError`).
    BrokenBarrierError,
    /// A lock released by a caller that does not hold it (Python's `RuntimeError`, and its
    /// name here, for `release unlocked lock` / `cannot release un-acquired lock`).
    NotOwner,
    /// An arithmetic result out of range: an `int` beyond `i128` (Python's ints are
    /// unbounded), a float power too large (Python's `OverflowError`).
    OverflowError,
    /// A division or modulo by zero (Python's `ZeroDivisionError`).
    ZeroDivisionError,
    /// Another class, raised by a CPython peer: [`Raised::class`] names it.
    Other,
}

impl Exception {
    /// Python's name for the class.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Exception::KeyError => "KeyError",
            Exception::IndexError => "IndexError",
            Exception::ValueError => "ValueError",
            Exception::TypeError => "TypeError",
            Exception::AttributeError => "AttributeError",
            Exception::StopIteration => "StopIteration",
            Exception::TimeoutError => "TimeoutError",
            Exception::RuntimeError | Exception::NotOwner => "RuntimeError",
            Exception::Empty => "Empty",
            Exception::Full => "Full",
            Exception::BrokenBarrierError => "BrokenBarrierError",
            Exception::OverflowError => "OverflowError",
            Exception::ZeroDivisionError => "ZeroDivisionError",
            Exception::Other => "Exception",
        }
    }
}

/// An exception raised by a shared object's method: its class and message
/// (`KeyError('missing')` is `Raised { exception: KeyError, message: "'missing'" }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Raised {
    /// The class.
    pub exception: Exception,
    /// The message (Python's `str(exc)`).
    pub message: String,
    /// The Python class as `module.name`, when a CPython peer raised a class that is not
    /// [`exception`](Raised::exception)'s own (`Exception::Other`, a subclass, ...).
    pub class: Option<String>,
}

impl Raised {
    /// An exception of class `exception` with `message`.
    pub fn new(exception: Exception, message: impl Into<String>) -> Raised {
        Raised {
            exception,
            message: message.into(),
            class: None,
        }
    }

    /// The class's name as Python prints it (`KeyError`, or a CPython peer's own class name).
    #[must_use]
    pub fn name(&self) -> &str {
        match &self.class {
            Some(class) => class.rsplit('.').next().unwrap_or(class),
            None => self.exception.name(),
        }
    }
}

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(self.name())
        } else {
            write!(f, "{}: {}", self.name(), self.message)
        }
    }
}

impl std::error::Error for Raised {}

/// Encodes a request into a fresh vector.
pub fn encode_request(r: &Request<'_>) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(r)
}

/// Appends an encoded request to `out` (reusing its allocation).
pub fn encode_request_into(r: &Request<'_>, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
    out.clear();
    let v = std::mem::take(out);
    *out = postcard::to_extend(r, v)?;
    Ok(())
}

/// Decodes a request, borrowing its strings from `bytes`.
pub fn decode_request(bytes: &[u8]) -> Result<Request<'_>, postcard::Error> {
    postcard::from_bytes(bytes)
}

/// Encodes a reply into `out` (cleared first, its allocation reused).
pub fn encode_reply_into(r: &Reply, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
    out.clear();
    let v = std::mem::take(out);
    *out = postcard::to_extend(r, v)?;
    Ok(())
}

/// Decodes a reply.
pub fn decode_reply(bytes: &[u8]) -> Result<Reply, postcard::Error> {
    postcard::from_bytes(bytes)
}

/// A [`Token`] as its three fields, whatever form `Token`'s own serde takes inside values.
pub(crate) mod wire_token {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::object::Token;

    pub(crate) fn serialize<S: Serializer>(t: &Token, s: S) -> Result<S::Ok, S::Error> {
        (&t.typeid, &t.address, t.id).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Token, D::Error> {
        let (typeid, address, id) = <(String, String, u64)>::deserialize(d)?;
        Ok(Token {
            typeid,
            address,
            id,
        })
    }
}

/// A sequence of [`Object`]s, each in its [wire form](crate::object::wire) (postcard cannot
/// read a self-describing tree back through serde's `deserialize_any`).
pub(crate) mod wire_objects {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::object::{Object, WireObject, wire};

    /// One borrowed element, written in its wire form.
    struct Borrowed<'a>(&'a Object);

    impl Serialize for Borrowed<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            wire::serialize(self.0, s)
        }
    }

    pub(crate) fn serialize<S: Serializer>(o: &[Object], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(o.iter().map(Borrowed))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Object>, D::Error> {
        // `WireObject` is a newtype of `Object`: the collect reuses the vector in place.
        Ok(Vec::<WireObject>::deserialize(d)?
            .into_iter()
            .map(|w| w.0)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let r = Request::Create {
            typeid: "dict",
            args: vec![Object::Int(1), Object::Str("x".into())],
        };
        assert_eq!(decode_request(&encode_request(&r).unwrap()).unwrap(), r);
        let mut out = Vec::new();
        for reply in [
            Reply::Return(Object::List(vec![Object::None, Object::Float(0.5)])),
            Reply::Proxy(Token {
                typeid: "list".into(),
                address: "/tmp/x".into(),
                id: 3,
            }),
            Reply::Error(Raised::new(Exception::KeyError, "'k'")),
            Reply::Traceback("boom".into()),
        ] {
            encode_reply_into(&reply, &mut out).unwrap();
            assert_eq!(decode_reply(&out).unwrap(), reply);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_request(&[0xff, 0xff, 0xff]).is_err());
        assert!(decode_reply(&[]).is_err());
    }
}
