//! Manager rows: one proxy call's round trip to a manager's server process (`d[7] = 'value'`,
//! `d[7]`, `l.append(7)`), a read-modify-write safe against other processes (`update_with`
//! against CPython's lock, get, set, release), a new proxy over TCP, and a manager's whole life
//! (start, first proxy, shutdown).
//!
//! The server runs on the child's CPU of the placement (pinned by the manager's initializer;
//! CPython's too). The raw baseline is a round trip of a request-sized frame over a Unix
//! socketpair to a forked echo child: what a call costs with no server work at all.

use crate::harness::{
    Config, Effort, Placement, Row, Samples, Target, Unit, fork_child, read_exact, socketpair,
    write_all,
};

#[cfg(feature = "ours-managers")]
mod ours;

const PINNED: &[Placement] = &[Placement::OneCpu, Placement::Split];
const UNPINNED: &[Placement] = &[Placement::Unpinned];

/// A 4-byte header and about the size of our encoded `Call` request for `d[7] = 'value'`.
const CALL_FRAME: usize = 4 + 24;

const RTT: Effort = Effort {
    iters: 1000,
    samples: 10,
    warmup: 200,
};
const RTT_QUICK: Effort = Effort {
    iters: 200,
    samples: 5,
    warmup: 50,
};
// CPython's new proxy over TCP takes about 190 ms (Nagle on its new connections).
const RTT_TCP: Effort = Effort {
    iters: 20,
    samples: 5,
    warmup: 5,
};
const RTT_TCP_QUICK: Effort = Effort {
    iters: 3,
    samples: 3,
    warmup: 1,
};
const LIFE: Effort = Effort {
    iters: 1,
    samples: 10,
    warmup: 1,
};
const LIFE_QUICK: Effort = Effort {
    iters: 1,
    samples: 3,
    warmup: 1,
};

macro_rules! ours {
    ($f:ident) => {{
        #[cfg(feature = "ours-managers")]
        let run: Option<crate::harness::Measure> = Some(ours::$f);
        #[cfg(not(feature = "ours-managers"))]
        let run: Option<crate::harness::Measure> = None;
        run
    }};
}

fn raw_call(cfg: &Config) -> Samples {
    super::pipe::raw_rtt(cfg, CALL_FRAME)
}

/// The manager rows.
pub(crate) fn rows() -> Vec<Row> {
    let call = |name, about| Row {
        name,
        about,
        unit: Unit::Us,
        placements: PINNED,
        quick_placements: PINNED,
        full: RTT,
        quick: RTT_QUICK,
        targets: &[Target::FasterThanCpython(10.0), Target::AtMostRaw(1.5)],
        ours: None,
        ours_feature: "ours-managers",
        raw: raw_call,
        peer: None,
    };
    vec![
        Row {
            ours: ours!(dict_set),
            ..call(
                "manager-dict-set",
                "d[7] = 'value' on a manager dict proxy: one call's round trip to the server",
            )
        },
        Row {
            ours: ours!(dict_get),
            ..call(
                "manager-dict-get",
                "d[7] on a manager dict proxy: one call's round trip to the server",
            )
        },
        Row {
            ours: ours!(list_append),
            ..call(
                "manager-list-append",
                "l.append(7) on a manager list proxy: one call's round trip to the server",
            )
        },
        Row {
            ours: ours!(dict_increment),
            ..call(
                "manager-dict-increment",
                "d[7] += 1, safe against other processes: ours one update_with call (no lock), \
                 CPython's `with lock: d[7] += 1` (acquire, get, set, release)",
            )
        },
        Row {
            name: "manager-new-proxy-tcp",
            about: "d = manager.dict(); del d on a manager serving TCP on 127.0.0.1: a new \
                    shared object and its release (CPython opens two more connections for them)",
            unit: Unit::Us,
            placements: UNPINNED,
            quick_placements: UNPINNED,
            full: RTT_TCP,
            quick: RTT_TCP_QUICK,
            targets: &[Target::FasterThanCpython(10.0), Target::AtMostRaw(1.5)],
            ours: ours!(new_proxy_tcp),
            ours_feature: "ours-managers",
            raw: raw_two_tcp_round_trips,
            peer: None,
        },
        Row {
            name: "manager-lifecycle",
            about: "start a manager (fork), make one dict proxy, shut the manager down",
            unit: Unit::Ms,
            placements: UNPINNED,
            quick_placements: UNPINNED,
            full: LIFE,
            quick: LIFE_QUICK,
            targets: &[Target::FasterThanCpython(10.0), Target::AtMostRaw(1.5)],
            ours: ours!(lifecycle),
            ours_feature: "ours-managers",
            raw: raw_lifecycle,
            peer: None,
        },
    ]
}

/// A forked child answering one request-sized frame, then exiting and reaped: a server's
/// whole life with no library.
fn raw_lifecycle(cfg: &Config) -> Samples {
    cfg.time_samples(Unit::Ms, |n| {
        for _ in 0..n {
            let (ours, theirs) = socketpair().map_err(std::io::Error::other)?;
            let child = fork_child(None, move || {
                let mut buf = [0u8; CALL_FRAME];
                match read_exact(&theirs, &mut buf).and_then(|()| write_all(&theirs, &buf)) {
                    Ok(()) => 0,
                    Err(_) => 1,
                }
            })
            .map_err(std::io::Error::other)?;
            let mut buf = [7u8; CALL_FRAME];
            write_all(&ours, &buf)?;
            read_exact(&ours, &mut buf)?;
            child.join()?;
        }
        Ok(())
    })
}

/// Two round trips of a request-sized frame over a TCP connection on the loopback
/// (`TCP_NODELAY`) to a forked echo child: a new proxy's create and release, with no server work.
fn raw_two_tcp_round_trips(cfg: &Config) -> Samples {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let _child = fork_child(None, move || {
        let Ok((mut s, _)) = listener.accept() else {
            return 1;
        };
        let _ = s.set_nodelay(true);
        let mut buf = [0u8; CALL_FRAME];
        while s.read_exact(&mut buf).is_ok() {
            if s.write_all(&buf).is_err() {
                break;
            }
        }
        0
    })?;
    let mut s = std::net::TcpStream::connect(address).map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut buf = [7u8; CALL_FRAME];
    cfg.time_samples(Unit::Us, |n| {
        for _ in 0..2 * n {
            s.write_all(&buf)?;
            s.read_exact(&mut buf)?;
        }
        Ok(())
    })
}
