//! [`BaseManager`]: starts a manager's server in a child process, or connects to one, and makes
//! shared objects in it (Python's `BaseManager` and `SyncManager`).
//!
//! ```
//! use multiprocessing_managers::{BaseManager, Object};
//! let manager = BaseManager::builder().start().unwrap();
//! let d = manager.dict().unwrap();
//! d.set(Object::Int(1), Object::Str("1".into())).unwrap();
//! assert_eq!(d.len().unwrap(), 1);
//! assert_eq!(d.to_string(), "{1: '1'}");
//! // Dropping the manager shuts its server down (Python's `with Manager() as m:`).
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use multiprocessing_connection::{Address, AuthKey, Connection, pipe};
use multiprocessing_core::identity;
use multiprocessing_process::{Context, Initializer, Process, Target};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::client::{self, Session, unexpected};
use crate::error::{Error, Result};
use crate::object::Object;
use crate::protocol::{Reply, Request};
use crate::proxy::Proxy;
use crate::server::Server;
use crate::shared::{Construct, Constructor, Managed, ProxyType, Registration, Registry};
use crate::typed::{DictProxy, ListProxy, NamespaceProxy, ValueProxy};

/// How long [`BaseManager::shutdown`] waits for the server to exit after asking, and again
/// after SIGTERM, before SIGKILL (Python's `shutdown_timeout`).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// How long `start` waits for the server process to report its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Options for a manager, made by [`BaseManager::builder`]; finished by
/// [`start`](Self::start), [`connect`](Self::connect) or [`get_server`](Self::get_server).
#[must_use]
pub struct ManagerBuilder {
    address: Option<Address>,
    authkey: Option<AuthKey>,
    registry: Registry,
    context: Option<Context>,
    initializer: Option<Result<Initializer>>,
    shutdown_timeout: Duration,
    handshake_timeout: Duration,
    ticket_lifetime: Duration,
}

impl std::fmt::Debug for ManagerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerBuilder")
            .field("address", &self.address)
            .field("registry", &self.registry)
            .field("initializer", &self.initializer.is_some())
            .finish_non_exhaustive()
    }
}

/// What a server process is started with.
#[derive(Serialize, Deserialize)]
struct ServerConfig {
    address: Option<String>,
    authkey: AuthKey,
    registry: Registry,
    initializer: Option<Initializer>,
    handshake_timeout: Duration,
    ticket_lifetime: Duration,
}

impl ManagerBuilder {
    /// The server's address (a Unix path, `@abstract` name, or TCP `host:port`, port 0 for
    /// any). By default a fresh abstract Unix name.
    pub fn address(mut self, address: Address) -> Self {
        self.address = Some(address);
        self
    }

    /// The key clients authenticate with (by default the current process's authkey, which
    /// child processes inherit).
    pub fn authkey(mut self, key: AuthKey) -> Self {
        self.authkey = Some(key);
        self
    }

    /// Registers a type the server can make (Python's `BaseManager.register(typeid,
    /// callable)`). The built-in types ([`Registry::builtin`]) are registered already.
    pub fn register(mut self, typeid: impl Into<String>, constructor: Constructor) -> Self {
        self.registry.register(typeid, constructor);
        self
    }

    /// Registers a type with Python's other `register` arguments (`exposed`,
    /// `method_to_typeid`, `create_method`), or a typeid without a constructor for a client
    /// that only connects ([`Registration::without_constructor`]).
    pub fn register_with(mut self, typeid: impl Into<String>, registration: Registration) -> Self {
        self.registry.register_with(typeid, registration);
        self
    }

    /// Registers a `#[managed]` type made by its `#[constructor]` (Python's
    /// `register('Maths', MathsClass)`).
    pub fn register_type<T: Managed + Construct>(self, typeid: impl Into<String>) -> Self {
        self.register_with(typeid, Registration::of::<T>())
    }

    /// Starts the server process with this context's start method (by default the default
    /// context's).
    pub fn context(mut self, ctx: &Context) -> Self {
        self.context = Some(ctx.clone());
        self
    }

    /// Runs `f(args)` in the server process before it serves (Python's `initializer`,
    /// `initargs`): a `fn` item or a closure capturing nothing.
    pub fn initializer<F, Args>(mut self, f: F, args: Args) -> Self
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned,
    {
        let init = Initializer::new(f, args)
            .map_err(|e| Error::Codec(format!("the initializer's arguments: {e}")));
        self.initializer = Some(init);
        self
    }

    /// How long [`shutdown`](BaseManager::shutdown) waits for the server at each step
    /// ([`DEFAULT_SHUTDOWN_TIMEOUT`]).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The server's deadline for a client's whole handshake
    /// ([`DEFAULT_HANDSHAKE_TIMEOUT`](crate::server::DEFAULT_HANDSHAKE_TIMEOUT)).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long the server keeps a reference lent to a proxy in transit for its receiver
    /// ([`ServerBuilder::ticket_lifetime`](crate::server::ServerBuilder::ticket_lifetime)).
    pub fn ticket_lifetime(mut self, lifetime: Duration) -> Self {
        self.ticket_lifetime = lifetime;
        self
    }

    fn key(&self) -> AuthKey {
        self.authkey
            .clone()
            .unwrap_or_else(|| identity::current().authkey)
    }

    /// Starts the server in a child process and connects to it (Python's `start()`).
    ///
    /// The server process is daemonic: it dies with this process, even one killed without
    /// running `Drop`, and so it cannot start processes of its own. It ignores SIGINT (Ctrl-C
    /// reaches the whole process group; the owner decides when it stops), as CPython's does.
    pub fn start(self) -> Result<BaseManager> {
        let authkey = self.key();
        let registry = Arc::new(self.registry.clone());
        let config = ServerConfig {
            address: self.address.as_ref().map(ToString::to_string),
            authkey: authkey.clone(),
            registry: self.registry,
            initializer: self.initializer.transpose()?,
            handshake_timeout: self.handshake_timeout,
            ticket_lifetime: self.ticket_lifetime,
        };
        let (mut ours, theirs) = pipe(false).map_err(Error::Connection)?;
        let mut builder = Process::builder(server_main, (theirs, config))
            .name(format!("SyncManager-{}", next_number()))
            // The server dies with this process, even one killed without running `Drop`.
            .daemon(true);
        if let Some(ctx) = &self.context {
            builder = builder.context(ctx);
        }
        let process = builder.start()?;
        let started = Instant::now();
        let reported = loop {
            match ours.poll(Some(Duration::from_millis(50))) {
                Ok(true) => break ours.recv::<std::result::Result<String, String>>(),
                Ok(false) if !process.is_alive() => {
                    // The report may have raced the exit.
                    if let Ok(true) = ours.poll(Some(Duration::ZERO)) {
                        break ours.recv();
                    }
                    return Err(Error::StartFailed(format!(
                        "the server process exited ({:?}) before reporting its address",
                        process.exitcode()
                    )));
                }
                Ok(false) if started.elapsed() > START_TIMEOUT => {
                    let _ = process.kill();
                    let _ = process.join();
                    return Err(Error::StartFailed("no address reported in time".into()));
                }
                Ok(false) => {}
                Err(e) => break Err(e),
            }
        };
        let address = match reported {
            Ok(Ok(a)) => a
                .parse::<Address>()
                .map_err(|e| Error::StartFailed(format!("a bad address {a}: {e}")))?,
            Ok(Err(e)) => {
                let _ = process.join_timeout(self.shutdown_timeout);
                return Err(Error::StartFailed(e));
            }
            Err(e) => {
                let _ = process.kill();
                let _ = process.join();
                return Err(Error::StartFailed(e.to_string()));
            }
        };
        let session = client::session(&address, &authkey);
        Ok(BaseManager {
            address,
            owner: multiprocessing_core::fork::generation(),
            session,
            registry,
            process: Some(process),
            shutdown_timeout: self.shutdown_timeout,
            shut_down: false,
        })
    }

    /// Connects to a running server at the [`address`](Self::address), proving it answers
    /// with one request (Python's `connect()`). The server may be a CPython manager's: the
    /// first connection tells, and the session speaks its protocol
    /// ([`python_client`](crate::python_client)).
    pub fn connect(self) -> Result<BaseManager> {
        let address = self
            .address
            .clone()
            .ok_or_else(|| Error::InvalidArgument("connect() needs an address".into()))?;
        let session = client::session(&address, &self.key());
        session.call(&Request::Dummy)?;
        Ok(BaseManager {
            address,
            owner: multiprocessing_core::fork::generation(),
            session,
            registry: Arc::new(self.registry),
            process: None,
            shutdown_timeout: self.shutdown_timeout,
            shut_down: false,
        })
    }

    /// A server for this process to serve itself with
    /// [`serve_forever`](Server::serve_forever) (Python's `get_server()`).
    pub fn get_server(self) -> Result<Server> {
        let mut b = Server::builder()
            .authkey(self.key())
            .handshake_timeout(self.handshake_timeout)
            .ticket_lifetime(self.ticket_lifetime)
            .registry(self.registry);
        if let Some(a) = self.address {
            b = b.address(a);
        }
        b.bind()
    }
}

fn next_number() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
}

/// The server process: binds, reports its address (or why it could not), serves.
fn server_main(mut report: Connection, config: ServerConfig) {
    // SAFETY: sets SIGINT's disposition to "ignore": Ctrl-C in a terminal reaches the whole
    // process group, and the server must outlive its clients' handling of it (as CPython's).
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    // The lines of the documentation's logging session (Python's process bootstrap and
    // `_run_server` log them).
    tracing::info!(target: multiprocessing_core::logging::LOG_TARGET, "child process calling self.run()");
    let fail = |report: &mut Connection, m: String| {
        let _ = report.send(&std::result::Result::<String, String>::Err(m));
    };
    if let Some(init) = config.initializer
        && let Err(e) = init.run()
    {
        return fail(&mut report, e);
    }
    let mut b = Server::builder()
        .authkey(config.authkey)
        .registry(config.registry)
        .handshake_timeout(config.handshake_timeout)
        .ticket_lifetime(config.ticket_lifetime);
    if let Some(a) = config.address {
        match a.parse() {
            Ok(a) => b = b.address(a),
            Err(e) => return fail(&mut report, format!("a bad address {a}: {e}")),
        }
    }
    let server = match b.bind() {
        Ok(s) => s,
        Err(e) => return fail(&mut report, e.to_string()),
    };
    // Logged before the owner can go on (and ask for a shutdown), so the lines keep their order.
    tracing::info!(
        target: multiprocessing_core::logging::LOG_TARGET,
        "manager serving at '{}'",
        server.address()
    );
    if report
        .send(&std::result::Result::<String, String>::Ok(
            server.address().to_string(),
        ))
        .is_err()
    {
        return;
    }
    drop(report);
    if let Err(e) = server.serve_forever() {
        tracing::error!(target: "multiprocessing", "the manager's server failed: {e}");
        std::process::exit(1);
    }
    tracing::info!(target: multiprocessing_core::logging::LOG_TARGET, "manager exiting with exitcode 0");
}

/// A manager: a server holding shared objects, started in a child process or reached at an
/// address (Python's `BaseManager`; with the built-in types registered, `SyncManager`).
///
/// A manager that started its server shuts it down when dropped, so a block is Python's
/// `with Manager() as m:`; one that only connected leaves the server running.
#[doc(alias = "SyncManager")]
pub struct BaseManager {
    address: Address,
    /// The fork generation of the process that started the server: only it shuts it down on
    /// drop (a forked child dropping an inherited copy leaves the server alone).
    owner: u64,
    session: Arc<Session>,
    /// The types this manager was built with: `create` refuses the ones they say cannot be
    /// made by name, before asking the server.
    registry: Arc<Registry>,
    process: Option<Process>,
    shutdown_timeout: Duration,
    shut_down: bool,
}

/// Python's `SyncManager`: a [`BaseManager`] with the built-in types registered (every
/// `BaseManager` has them).
pub type SyncManager = BaseManager;

impl std::fmt::Debug for BaseManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaseManager")
            .field("address", &self.address)
            .field("started", &self.process.is_some())
            .field("shut_down", &self.shut_down)
            .finish()
    }
}

/// Starts a [`SyncManager`] with the defaults (Python's `multiprocessing.Manager()`).
#[doc(alias = "Manager")]
pub fn manager() -> Result<SyncManager> {
    BaseManager::builder().start()
}

impl BaseManager {
    /// Starts configuring a manager, with the built-in types registered.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder {
            address: None,
            authkey: None,
            registry: Registry::builtin(),
            context: None,
            initializer: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            handshake_timeout: crate::server::DEFAULT_HANDSHAKE_TIMEOUT,
            ticket_lifetime: crate::server::DEFAULT_TICKET_LIFETIME,
        }
    }

    /// The server's address.
    #[must_use]
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The server process's id, for a manager that started it.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Process::pid)
    }

    /// This process's session with the server (a forked child makes its own: it never uses
    /// its parent's connections).
    fn session(&self) -> Result<Arc<Session>> {
        if self.shut_down {
            return Err(Error::NotRunning);
        }
        if self.session.is_current() {
            Ok(self.session.clone())
        } else {
            Ok(client::session(&self.address, self.session.authkey()))
        }
    }

    /// Makes a shared object of a registered type (Python's `manager.<typeid>(*args)`).
    ///
    /// A typeid registered here with [`create_method(false)`](Registration::create_method) is
    /// refused without asking the server, and one the server cannot make by name (no
    /// constructor there, or `create_method(false)` there) is refused by it: both are errors
    /// of kind [`Unsupported`](crate::ErrorKind::Unsupported) (Python's `AttributeError`).
    /// A typeid this manager does not know is asked for all the same (the server may have it).
    pub fn create(&self, typeid: &str, args: Vec<Object>) -> Result<Proxy> {
        if let Some(r) = self.registry.registration(typeid)
            && !r.creatable()
        {
            return Err(Error::Raised(crate::shared::not_creatable(typeid, r)));
        }
        let session = self.session()?;
        match session.request(&Request::Create { typeid, args })? {
            Reply::Proxy(t) => Ok(Proxy::adopt_token(t, session)),
            other => Err(unexpected(other)),
        }
    }

    /// Makes a shared object of a registered type and returns its typed proxy (Python's
    /// `manager.Maths()` for a type registered as `Maths`).
    pub fn create_as<P: ProxyType>(&self, typeid: &str, args: Vec<Object>) -> Result<P> {
        self.create(typeid, args).map(P::from_proxy)
    }

    /// A shared, empty `dict` of [`Object`] keys and values (mixed kinds, as in Python).
    pub fn dict(&self) -> Result<DictProxy> {
        self.dict_of()
    }

    /// A shared, empty `dict` seen with keys `K` and values `V` (Python's `dict()`, typed).
    pub fn dict_of<K, V>(&self) -> Result<DictProxy<K, V>> {
        Ok(DictProxy::from_proxy(self.create("dict", Vec::new())?))
    }

    /// A shared `list` holding `items` ([`Object`]s).
    pub fn list(&self, items: Vec<Object>) -> Result<ListProxy> {
        Ok(ListProxy::from_proxy(
            self.create("list", vec![Object::List(items)])?,
        ))
    }

    /// A shared `list` of `T` holding `items` (Python's `list(seq)`, typed).
    pub fn list_of<T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ListProxy<T>> {
        let items = items
            .into_iter()
            .map(|i| crate::object::to_object(&i).map_err(|e| Error::Codec(e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        Ok(ListProxy::from_proxy(
            self.create("list", vec![Object::List(items)])?,
        ))
    }

    /// A shared, empty `Namespace`.
    #[doc(alias = "Namespace")]
    pub fn namespace(&self) -> Result<NamespaceProxy> {
        Ok(NamespaceProxy::from_proxy(
            self.create("Namespace", Vec::new())?,
        ))
    }

    /// A shared `Value` with a type code (`"i"`, `"d"`, ...) and an initial value.
    #[doc(alias = "Value")]
    pub fn value(&self, typecode: &str, value: Object) -> Result<ValueProxy> {
        Ok(ValueProxy::from_proxy(self.create(
            "Value",
            vec![Object::Str(typecode.into()), value],
        )?))
    }

    /// A shared `Value` holding a `T` (the type code is informative, as in Python's manager).
    #[doc(alias = "Value")]
    pub fn value_of<T: Serialize>(&self, typecode: &str, value: &T) -> Result<ValueProxy<T>> {
        let value = crate::object::to_object(value).map_err(|e| Error::Codec(e.to_string()))?;
        Ok(ValueProxy::from_proxy(self.create(
            "Value",
            vec![Object::Str(typecode.into()), value],
        )?))
    }

    /// How many shared objects the server holds (Python's `_number_of_objects()`).
    #[doc(alias = "_number_of_objects")]
    pub fn number_of_objects(&self) -> Result<usize> {
        match self.session()?.call(&Request::NumberOfObjects)? {
            Object::Int(n) => Ok(n as usize),
            other => Err(Error::Codec(format!(
                "a count that is not an int: {other:?}"
            ))),
        }
    }

    /// One line per shared object with its reference count (Python's `_debug_info()`).
    #[doc(alias = "_debug_info")]
    pub fn debug_info(&self) -> Result<String> {
        match self.session()?.call(&Request::DebugInfo)? {
            Object::Str(s) => Ok(s),
            other => Err(Error::Codec(format!(
                "debug info that is not a str: {other:?}"
            ))),
        }
    }

    /// Stops the server: asks it, waits up to the shutdown timeout, then terminates and at
    /// last kills it, and reaps it. Idempotent. For a manager that only connected, it asks
    /// the server to stop.
    pub fn shutdown(&mut self) -> Result<()> {
        if self.shut_down {
            return Ok(());
        }
        if self.process.is_some() && self.owner != multiprocessing_core::fork::generation() {
            return Err(Error::WrongProcess);
        }
        let session = self.session()?;
        self.shut_down = true;
        if self.process.is_some() {
            tracing::info!(
                target: multiprocessing_core::logging::LOG_TARGET,
                "sending shutdown message to manager"
            );
        }
        let asked = session.request(&Request::Shutdown);
        client::forget(session.address_text());
        let Some(p) = &self.process else {
            return asked.map(drop);
        };
        if p.join_timeout(self.shutdown_timeout).is_err() {
            let _ = p.terminate();
            if p.join_timeout(self.shutdown_timeout).is_err() {
                let _ = p.kill();
                p.join()?;
            }
        }
        Ok(())
    }
}

impl Drop for BaseManager {
    fn drop(&mut self) {
        if self.process.is_some() && self.owner == multiprocessing_core::fork::generation() {
            let _ = self.shutdown();
        }
    }
}
