//! A connection peer for interoperability tests, in either role.
//!
//! ```text
//! conn_peer listen ADDRESS AUTHKEY             # echo every message back as b"echo:" + message
//! conn_peer connect ADDRESS AUTHKEY MESSAGE... # send each message, print each reply
//! ```
//!
//! ADDRESS is a Unix socket path or HOST:PORT (port 0 picks a free one; the listener prints
//! `listening on ADDRESS` with the real address). A failed authentication exits with status 2.

use std::io::Write;
use std::process::ExitCode;

use multiprocessing::connection::{AuthKey, Client, Error, Listener};

fn fail(e: &Error) -> ExitCode {
    match e {
        Error::Authentication(_) => {
            eprintln!("conn_peer: authentication error: {e}");
            ExitCode::from(2)
        }
        _ => {
            eprintln!("conn_peer: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn listen(address: &str, key: AuthKey) -> Result<(), Error> {
    let listener = Listener::builder()
        .address(address.parse()?)
        .authkey(key)
        .bind()?;
    println!("listening on {}", listener.address());
    std::io::stdout().flush()?;
    let mut conn = listener.accept()?;
    loop {
        let msg = match conn.recv_bytes() {
            Ok(m) => m,
            Err(Error::Eof) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut reply = b"echo:".to_vec();
        reply.extend_from_slice(&msg);
        conn.send_bytes(&reply)?;
    }
}

fn connect(address: &str, key: AuthKey, messages: &[String]) -> Result<(), Error> {
    let mut conn = Client::builder(address.parse()?).authkey(key).connect()?;
    let mut out = std::io::stdout().lock();
    for m in messages {
        conn.send_bytes(m.as_bytes())?;
        let reply = conn.recv_bytes()?;
        writeln!(out, "{}", String::from_utf8_lossy(&reply))?;
    }
    out.flush()?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [role, address, key, rest @ ..] if role == "listen" && rest.is_empty() => {
            listen(address, AuthKey::from(key.as_str()))
        }
        [role, address, key, messages @ ..] if role == "connect" => {
            connect(address, AuthKey::from(key.as_str()), messages)
        }
        _ => {
            eprintln!(
                "usage: conn_peer listen ADDRESS AUTHKEY | conn_peer connect ADDRESS AUTHKEY MESSAGE..."
            );
            return ExitCode::from(64);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}
