//! Connect rows: `Client` connecting to a `Listener` with an authkey, over Unix and TCP sockets.
//!
//! A forked child accepts and authenticates connections in a loop; the parent times connect,
//! the mutual challenge and close. The raw baseline connects the same socket and exchanges the
//! six messages of the mutual challenge with their sizes (`{sha256}` form) but no HMAC. It uses
//! std's socket types: each is one system call with nothing on top.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use crate::harness::{
    Config, Effort, Placement, Row, Samples, Target, Unit, fork_child, pin_parent,
};

#[cfg(feature = "ours-connection")]
mod ours;

const PLACEMENTS: &[Placement] = &[Placement::OneCpu, Placement::Split];
const FULL: Effort = Effort {
    iters: 100,
    samples: 10,
    warmup: 20,
};
const QUICK: Effort = Effort {
    iters: 30,
    samples: 5,
    warmup: 10,
};

/// The connect rows.
pub(crate) fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "connect-unix",
            about: "Client(address, authkey) to a Listener on a Unix socket path: connect, \
                    mutual HMAC challenge, close",
            unit: Unit::Us,
            placements: PLACEMENTS,
            quick_placements: &[Placement::OneCpu],
            full: FULL,
            quick: QUICK,
            targets: &[Target::AtMostRaw(1.1), Target::FasterThanCpython(3.0)],
            #[cfg(feature = "ours-connection")]
            ours: Some(ours::connect_unix),
            #[cfg(not(feature = "ours-connection"))]
            ours: None,
            ours_feature: "ours-connection",
            raw: raw_unix,
            peer: None,
        },
        Row {
            name: "connect-tcp",
            about: "Client(address, authkey) to a Listener on 127.0.0.1: connect, mutual HMAC \
                    challenge, close",
            unit: Unit::Us,
            placements: PLACEMENTS,
            quick_placements: &[Placement::OneCpu],
            full: FULL,
            quick: QUICK,
            targets: &[Target::AtMostRaw(1.1), Target::FasterThanCpython(3.0)],
            #[cfg(feature = "ours-connection")]
            ours: Some(ours::connect_tcp),
            #[cfg(not(feature = "ours-connection"))]
            ours: None,
            ours_feature: "ours-connection",
            raw: raw_tcp,
            peer: None,
        },
    ]
}

/// A fresh socket path in a private directory, removed when dropped.
pub(crate) struct SocketDir(PathBuf);

impl SocketDir {
    pub(crate) fn new() -> io::Result<SocketDir> {
        let dir = std::env::temp_dir().join(format!("mpbench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir)?;
        Ok(SocketDir(dir))
    }

    pub(crate) fn socket(&self) -> PathBuf {
        self.0.join("listener.sock")
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// Frame sizes of the `{sha256}` challenge: b"#CHALLENGE#" + b"{sha256}" + 40 random bytes,
// then b"{sha256}" + a 32-byte digest, then b"#WELCOME#"; each with a 4-byte length.
const CHALLENGE: usize = 4 + 11 + 8 + 40;
const RESPONSE: usize = 4 + 8 + 32;
const WELCOME: usize = 4 + 9;

/// Sends a challenge, reads the response, sends the welcome.
fn deliver(s: &mut (impl Read + Write), buf: &mut [u8; CHALLENGE]) -> io::Result<()> {
    s.write_all(&buf[..CHALLENGE])?;
    s.read_exact(&mut buf[..RESPONSE])?;
    s.write_all(&buf[..WELCOME])
}

/// Reads a challenge, sends the response, reads the welcome.
fn answer(s: &mut (impl Read + Write), buf: &mut [u8; CHALLENGE]) -> io::Result<()> {
    s.read_exact(&mut buf[..CHALLENGE])?;
    s.write_all(&buf[..RESPONSE])?;
    s.read_exact(&mut buf[..WELCOME])
}

/// The mutual challenge: the server challenges first, as CPython's `Listener.accept` does.
fn handshake(s: &mut (impl Read + Write), server: bool) -> io::Result<()> {
    let mut buf = [0u8; CHALLENGE];
    if server {
        deliver(s, &mut buf)?;
        answer(s, &mut buf)
    } else {
        answer(s, &mut buf)?;
        deliver(s, &mut buf)
    }
}

fn raw_unix(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let dir = SocketDir::new().map_err(|e| e.to_string())?;
    let path = dir.socket();
    let listener = UnixListener::bind(&path).map_err(|e| e.to_string())?;
    let _child = fork_child(child_cpu, move || {
        loop {
            if let Ok((mut s, _)) = listener.accept() {
                let _ = handshake(&mut s, true);
            }
        }
    })?;
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            let mut s = UnixStream::connect(&path)?;
            handshake(&mut s, false)?;
        }
        Ok(())
    })
}

fn raw_tcp(cfg: &Config) -> Samples {
    let child_cpu = pin_parent(cfg.placement)?;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let _child = fork_child(child_cpu, move || {
        loop {
            if let Ok((mut s, _)) = listener.accept() {
                let _ = handshake(&mut s, true);
            }
        }
    })?;
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..n {
            let mut s = TcpStream::connect(addr)?;
            handshake(&mut s, false)?;
        }
        Ok(())
    })
}
