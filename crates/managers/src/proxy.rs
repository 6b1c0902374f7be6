//! Proxies: handles to objects that live in a manager (Python's `BaseProxy`).
//!
//! A [`Proxy`] names one shared object ([`Token`]) and calls its methods through this process's
//! session with the manager. Clones share one reference held for this process; the last clone
//! to drop releases it, and the server frees the object when no process (and no other shared
//! object) refers to it any more.
//!
//! A proxy is serializable, so it passes to another process (as a process argument, through a
//! queue or a pipe): serializing lends a reference to a *ticket* at the server, and the
//! receiver claims it while deserializing, so the object cannot be freed while the proxy is on
//! its way (CPython gh-119937). A ticket nobody claims expires at the server
//! ([`ServerBuilder::ticket_lifetime`](crate::server::ServerBuilder::ticket_lifetime)); a
//! receiver later than that takes a fresh reference instead, which works while any other
//! reference keeps the object alive. Inside a transfer context (a process's arguments) the
//! manager's authkey travels with the proxy; elsewhere the receiver authenticates with its own.
//!
//! A child made by `fork` inherits its parent's proxies as values: on first use there, the
//! proxy takes a reference for the child's own session (with its own connections), as
//! CPython's proxies do after a fork.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use multiprocessing_connection::{Address, AuthKey};
use multiprocessing_core::{identity, transfer};
use serde::{Deserialize, Serialize};

use crate::client::{self, Session, unexpected};
use crate::error::{Error, Result};
use crate::object::{Object, Token};
use crate::protocol::{Reply, Request};

/// A handle to one object in a manager: Python's `BaseProxy` (an `AutoProxy` for types
/// without a typed proxy).
///
/// `Display` shows the referent (it asks the server for its repr, as Python's `str(proxy)`
/// does); `Debug` shows the proxy itself (Python's `repr(proxy)`).
#[derive(Clone)]
#[doc(alias = "BaseProxy")]
#[doc(alias = "AutoProxy")]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    token: Token,
    authkey: AuthKey,
    /// The session of the process that made this proxy, which holds its reference.
    home: Arc<Session>,
    /// In a child forked since (with the proxy copied into it), the child's own session, which
    /// took a reference of its own on first use; `None` until then (nothing to release).
    forked: Mutex<Option<Arc<Session>>>,
}

impl Proxy {
    /// A proxy owning a reference `session` already holds for `token` (a `create`, a `#PROXY`
    /// reply, a claimed ticket).
    pub(crate) fn adopt_token(mut token: Token, session: Arc<Session>) -> Proxy {
        token.address = session.address_text().to_string();
        Proxy {
            inner: Arc::new(Inner {
                token,
                authkey: session.authkey().clone(),
                home: session,
                forked: Mutex::new(None),
            }),
        }
    }

    /// The shared object this proxy refers to.
    #[must_use]
    pub fn token(&self) -> &Token {
        &self.inner.token
    }

    /// The registered type name of the referent.
    #[must_use]
    pub fn typeid(&self) -> &str {
        &self.inner.token.typeid
    }

    /// This process's session, taking a reference in it first if the proxy came through a
    /// fork.
    fn session(&self) -> Result<Arc<Session>> {
        // The common case takes no lock.
        if self.inner.home.is_current() {
            return Ok(self.inner.home.clone());
        }
        let mut forked = self
            .inner
            .forked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = &*forked
            && s.is_current()
        {
            return Ok(s.clone());
        }
        let address: Address = self
            .inner
            .token
            .address
            .parse()
            .map_err(|e| Error::InvalidArgument(format!("a proxy's address: {e}")))?;
        let s = client::session(&address, &self.inner.authkey);
        match s.request(&Request::Incref {
            id: self.inner.token.id,
        })? {
            Reply::Return(_) => {}
            other => return Err(unexpected(other)),
        }
        *forked = Some(s.clone());
        Ok(s)
    }

    /// Calls `method` of the referent with `args` (Python's `_callmethod`). A method that
    /// makes a new shared object (a `method_to_typeid` method) is called with
    /// [`call_method_proxy`](Self::call_method_proxy) instead: here its answer is an
    /// [`Error::InvalidArgument`] saying so, and the new object is released at once (nothing
    /// could refer to it).
    #[doc(alias = "_callmethod")]
    pub fn call_method(&self, method: &str, args: Vec<Object>) -> Result<Object> {
        let (reply, session) = self.call(method, args)?;
        Self::returned(method, reply, session)
    }

    /// [`call_method`](Self::call_method), awaited (feature `tokio`): the same request and
    /// reply, with no thread blocked while the server answers (a waiting method, an
    /// `Event`'s `wait`, a queue's `get`, parks the task only).
    ///
    /// Dropping the future before the reply arrives (a `tokio::time::timeout` that elapsed)
    /// closes the connection the call used, so no later call reads its reply; the server
    /// cancels a waiting method whose caller hung up, so a dropped `get` takes no item. The
    /// proxy stays usable. A reply already sent when the future is dropped is lost with it.
    ///
    /// With a CPython server, the call runs on tokio's blocking threads
    /// (`spawn_blocking`); so does the first call in a process forked since the proxy was
    /// made, which takes the child's own reference first.
    ///
    /// ```
    /// use multiprocessing_managers::{Object, manager};
    /// let m = manager().unwrap();
    /// let d = m.dict().unwrap();
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// rt.block_on(async {
    ///     d.call_method_async("__setitem__", vec!["k".into(), 1.into()]).await.unwrap();
    ///     let v = d.call_method_async("__getitem__", vec!["k".into()]).await.unwrap();
    ///     assert_eq!(v, Object::from(1));
    /// });
    /// ```
    #[cfg(feature = "tokio")]
    #[doc(alias = "_callmethod")]
    pub async fn call_method_async(&self, method: &str, args: Vec<Object>) -> Result<Object> {
        let session = self.session()?;
        let reply = Arc::clone(&session)
            .call_method_async(&self.inner.token, method, args)
            .await?;
        Self::returned(method, reply, session)
    }

    /// A connection whose calls are made by a caller of its own, for one async hold
    /// (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub(crate) async fn channel_async(&self) -> Result<client::Channel> {
        self.session()?.channel_async().await
    }

    /// [`call_method_async`](Self::call_method_async) made on `channel`, as its caller.
    #[cfg(feature = "tokio")]
    pub(crate) async fn call_on(
        &self,
        channel: &mut client::Channel,
        method: &str,
        args: Vec<Object>,
    ) -> Result<Object> {
        let session = self.session()?;
        let reply = channel.call_method(&self.inner.token, method, args).await?;
        Self::returned(method, reply, session)
    }

    /// A method's reply as `call_method` gives it.
    fn returned(method: &str, reply: Reply, session: Arc<Session>) -> Result<Object> {
        match reply {
            Reply::Return(o) => Ok(o),
            Reply::Proxy(t) => {
                // The server holds a reference for this session: a proxy owns it, and its drop
                // gives it back.
                drop(Proxy::adopt_token(t, session));
                Err(Error::InvalidArgument(format!(
                    "method '{method}' answers with a new shared object: call it with \
                     call_method_proxy"
                )))
            }
            other => Err(unexpected(other)),
        }
    }

    /// Calls a method of the referent that answers with a new shared object, and returns a
    /// proxy to it.
    pub fn call_method_proxy(&self, method: &str, args: Vec<Object>) -> Result<Proxy> {
        let (reply, session) = self.call(method, args)?;
        match reply {
            Reply::Proxy(t) => Ok(Proxy::adopt_token(t, session)),
            // A shared object already referred to elsewhere (an element of a container): this
            // session holds no reference to it yet, so the proxy takes one.
            Reply::Return(o @ Object::Proxy(_)) => self.adopt(&o),
            other => Err(unexpected(other)),
        }
    }

    /// Sends a method call; the reply and the session that holds any reference it brings.
    fn call(&self, method: &str, args: Vec<Object>) -> Result<(Reply, Arc<Session>)> {
        let session = self.session()?;
        let reply = session.call_method(&self.inner.token, method, args)?;
        Ok((reply, session))
    }

    /// A copy of the referent's value (Python's `_getvalue()`).
    #[doc(alias = "_getvalue")]
    pub fn get_value(&self) -> Result<Object> {
        self.call_method("#GETVALUE", Vec::new())
    }

    /// [`get_value`](Self::get_value), awaited (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn get_value_async(&self) -> Result<Object> {
        self.call_method_async("#GETVALUE", Vec::new()).await
    }

    /// The methods this proxy may call (Python's `proxy._exposed_`, the server's
    /// `get_methods`): the referent's registration's `exposed` list, else its type's
    /// [`Shared::exposed`](crate::Shared::exposed), with the `method_to_typeid` methods after
    /// them; `None` when there is no list, so every method the type answers may be called.
    /// A method outside the list is refused by the server with an error of kind
    /// [`Unsupported`](crate::ErrorKind::Unsupported) naming it.
    ///
    /// ```
    /// use multiprocessing_managers::manager;
    /// let m = manager().unwrap();
    /// // The built-in dict restricts nothing.
    /// assert_eq!(m.dict().unwrap().exposed().unwrap(), None);
    /// ```
    #[doc(alias = "_exposed_")]
    #[doc(alias = "get_methods")]
    pub fn exposed(&self) -> Result<Option<Vec<String>>> {
        match self.session()?.call(&Request::GetMethods {
            id: self.inner.token.id,
        })? {
            Object::None => Ok(None),
            Object::List(l) => l
                .into_iter()
                .map(|m| match m {
                    Object::Str(m) => Ok(m),
                    other => Err(Error::Codec(format!(
                        "a method name that is not a str: {other}"
                    ))),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            other => Err(Error::Codec(format!(
                "an exposed list that is not a list: {other:?}"
            ))),
        }
    }

    /// The referent's repr, as Python's `str(proxy)` shows it.
    pub fn repr(&self) -> Result<String> {
        match self.call_method("__repr__", Vec::new())? {
            Object::Str(s) => Ok(s),
            other => Err(Error::Codec(format!("a repr that is not a str: {other:?}"))),
        }
    }

    /// This proxy as a value to store inside another shared object (a reference to the
    /// referent).
    #[must_use]
    pub fn to_object(&self) -> Object {
        Object::Proxy(self.inner.token.clone())
    }

    /// A proxy to a shared object of the same manager that arrived inside a value this proxy's
    /// calls returned ([`Object::Proxy`]): it takes a reference of its own (one round trip),
    /// as CPython's proxies do when unpickled. An object that nothing refers to any more by
    /// then (another client removed it from its container meanwhile) is a
    /// [`Error::Remote`].
    pub fn adopt(&self, object: &Object) -> Result<Proxy> {
        match object {
            Object::Proxy(t) => {
                let session = self.session()?;
                match session.request(&Request::Incref { id: t.id })? {
                    Reply::Return(_) => Ok(Proxy::adopt_token(t.clone(), session)),
                    other => Err(unexpected(other)),
                }
            }
            other => Err(Error::InvalidArgument(format!(
                "not a shared object: {other:?}"
            ))),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let forked = self
            .forked
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let holder = if self.home.is_current() {
            Some(&self.home)
        } else {
            forked.as_ref().filter(|s| s.is_current())
        };
        if let Some(s) = holder {
            // A failure means the server is gone, and the reference with it.
            let _ = s.request(&Request::Decref { id: self.token.id });
        }
    }
}

/// The untyped proxy is a typed view of itself (so [`BaseManager::create_as`] can make one).
///
/// [`BaseManager::create_as`]: crate::BaseManager::create_as
impl crate::shared::ProxyType for Proxy {
    fn from_proxy(proxy: Proxy) -> Self {
        proxy
    }

    fn as_proxy(&self) -> &Proxy {
        self
    }
}

/// A proxy stored inside another shared object becomes a reference to its referent
/// (Python's `a.append(b)`): `a.append(&b)`.
impl From<&Proxy> for Object {
    fn from(p: &Proxy) -> Object {
        p.to_object()
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<{} object, typeid '{}' at {:#x}>",
            self.inner.token.proxy_type_name(),
            self.typeid(),
            self.inner.token.id
        )
    }
}

/// Shows the referent (a round trip to the server); `<... (unreachable: ...)>` if it fails.
impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.repr() {
            Ok(s) => f.write_str(&s),
            Err(e) => write!(f, "<{:?} (unreachable: {e})>", self),
        }
    }
}

/// A proxy as it travels: its token, the ticket holding its reference, and (inside a transfer
/// context only) the manager's authkey.
#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(with = "crate::protocol::wire_token")]
    token: Token,
    ticket: u64,
    authkey: Option<AuthKey>,
}

impl Serialize for Proxy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let session = self.session().map_err(S::Error::custom)?;
        let ticket = match session
            .request(&Request::Lend {
                id: self.inner.token.id,
            })
            .map_err(S::Error::custom)?
        {
            Reply::Ticket(t) => t,
            other => return Err(S::Error::custom(unexpected(other))),
        };
        Wire {
            token: self.inner.token.clone(),
            ticket,
            authkey: transfer::in_transfer().then(|| self.inner.authkey.clone()),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Proxy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let w = Wire::deserialize(d)?;
        let key = w.authkey.unwrap_or_else(|| identity::current().authkey);
        let address: Address = w.token.address.parse().map_err(D::Error::custom)?;
        let session = client::session(&address, &key);
        let claimed = session.request(&Request::Claim { ticket: w.ticket });
        match claimed {
            Ok(Reply::Return(_)) => {}
            // The ticket expired: a fresh reference, if the object is still alive.
            Ok(_) => match session.request(&Request::Incref { id: w.token.id }) {
                Ok(Reply::Return(_)) => {}
                Ok(other) => return Err(D::Error::custom(unexpected(other))),
                Err(e) => return Err(D::Error::custom(e)),
            },
            Err(e) => return Err(D::Error::custom(e)),
        }
        Ok(Proxy::adopt_token(w.token, session))
    }
}
