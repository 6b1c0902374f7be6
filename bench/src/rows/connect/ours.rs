//! Our side of the connect rows, through `multiprocessing_connection::{Listener, client}`.

use multiprocessing_connection::{Address, Listener, client};
use multiprocessing_core::AuthKey;

use super::SocketDir;
use crate::harness::{Config, Samples, Unit, fork_child, pin_parent};

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Binds a listener at `address` in the parent, accepts in a forked child, times `client`.
fn connect(cfg: &Config, address: &str) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let key = AuthKey::new(b"mpbench-authkey".to_vec());
    let address: Address = address.parse().map_err(err)?;
    let listener = Listener::builder()
        .address(address)
        .authkey(key.clone())
        .bind()
        .map_err(err)?;
    let address = listener.address().clone();
    // The parent keeps `listener` open (closing it could remove the socket path).
    let _child = fork_child(child_cpu, || {
        loop {
            let _ = listener.accept();
        }
    })?;
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            // Closed at the end of the iteration, as CPython's `Client(...).close()`.
            let _conn = client(&address, Some(&key)).map_err(std::io::Error::other)?;
        }
        Ok(())
    })
}

pub(crate) fn connect_unix(cfg: &Config) -> Samples {
    let dir = SocketDir::new().map_err(err)?;
    connect(cfg, &dir.socket().to_string_lossy())
}

pub(crate) fn connect_tcp(cfg: &Config) -> Samples {
    connect(cfg, "127.0.0.1:0")
}
