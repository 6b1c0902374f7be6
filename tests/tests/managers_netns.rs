//! A remote manager across hosts: the documentation's queue server in one network namespace,
//! its clients in another, joined only by a veth pair whose addresses the test assigns inside
//! the namespaces. One client puts `'hello'`, another gets it, a third stops the server.
//!
//! Needs root and the `ip` command (iproute2); without them the test prints why and passes
//! without checking anything. Everything it creates is removed even when it fails.

use std::process::{Child, Command, Output, Stdio};

use multiprocessing_tests::examples::example;
use multiprocessing_tests::helpers::{BOUND, pidfd, read_announcement, readable, within};

/// The addresses of the pair, one /30: they exist only inside the test's namespaces, so
/// concurrent runs do not collide.
const SERVER_IP: &str = "10.77.0.1";
const CLIENT_IP: &str = "10.77.0.2";

fn ip(args: &[&str]) -> Output {
    Command::new("ip").args(args).output().expect("ip runs")
}

fn ip_ok(args: &[&str]) {
    let out = ip(args);
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Why the test cannot run here, if it cannot.
fn unsupported() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("no `ip` command (install iproute2)".into()),
    }
}

/// Two namespaces and the veth pair between them; dropping it deletes both namespaces (which
/// deletes the pair) and kills the server if it still runs.
struct Hosts {
    server_ns: String,
    client_ns: String,
    server: Option<Child>,
}

impl Hosts {
    /// Creates the namespaces; `None` (with the reason) where this kernel or container does
    /// not allow them.
    fn create() -> Result<Hosts, String> {
        let id = std::process::id();
        let hosts = Hosts {
            server_ns: format!("mp-srv-{id}"),
            client_ns: format!("mp-cli-{id}"),
            server: None,
        };
        let out = ip(&["netns", "add", &hosts.server_ns]);
        if !out.status.success() {
            return Err(format!(
                "`ip netns add` refused: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        ip_ok(&["netns", "add", &hosts.client_ns]);
        // Interface names are at most 15 bytes.
        let (a, b) = (format!("mpv{id}s"), format!("mpv{id}c"));
        ip_ok(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        ip_ok(&["link", "set", &a, "netns", &hosts.server_ns]);
        ip_ok(&["link", "set", &b, "netns", &hosts.client_ns]);
        for (ns, dev, addr) in [
            (&hosts.server_ns, &a, SERVER_IP),
            (&hosts.client_ns, &b, CLIENT_IP),
        ] {
            ip_ok(&["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", dev]);
            ip_ok(&["-n", ns, "link", "set", dev, "up"]);
            ip_ok(&["-n", ns, "link", "set", "lo", "up"]);
        }
        Ok(hosts)
    }

    /// Runs `args` in namespace `ns`.
    fn command(ns: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(args);
        c
    }

    /// Runs the example with `args` on the client host; returns its standard output.
    fn client(&self, args: &[&str]) -> String {
        let exe = example("remote_manager");
        let exe = exe.to_str().expect("a UTF-8 path");
        let mut all = vec![exe];
        all.extend_from_slice(args);
        let mut cmd = Hosts::command(&self.client_ns, &all);
        let what = format!("client {args:?}");
        let out = within(&what.clone(), move || {
            cmd.output().expect("the client runs")
        });
        assert!(
            out.status.success(),
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        if let Some(server) = &mut self.server {
            let _ = server.kill();
            let _ = server.wait();
        }
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = ip(&["netns", "delete", ns]);
        }
    }
}

#[test]
fn a_queue_server_in_one_namespace_serves_clients_in_another() {
    if let Some(why) = unsupported() {
        eprintln!("skipped: {why}");
        return;
    }
    let mut hosts = match Hosts::create() {
        Ok(h) => h,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let exe = example("remote_manager");
    let mut server = Hosts::command(
        &hosts.server_ns,
        &[
            exe.to_str().expect("a UTF-8 path"),
            "serve",
            &format!("{SERVER_IP}:0"),
        ],
    )
    .stdout(Stdio::piped())
    .spawn()
    .expect("the server starts");
    let stdout = server.stdout.take().expect("piped");
    hosts.server = Some(server);
    let address = within("the server's address", move || {
        read_announcement(stdout, "serving at ")
    });
    assert!(
        address.starts_with(&format!("{SERVER_IP}:")),
        "served at {address}"
    );

    // The client host reaches the server only through the pair.
    assert_eq!(hosts.client(&["put", &address, "hello"]), "");
    assert_eq!(hosts.client(&["get", &address]), "'hello'\n");
    assert_eq!(hosts.client(&["shutdown", &address]), "");

    // Asked to stop, the server exits cleanly.
    let server = hosts.server.as_mut().expect("started");
    assert!(
        readable(pidfd(server.id()), BOUND),
        "the server did not stop"
    );
    let status = server.wait().expect("wait");
    assert!(status.success(), "the server exited with {status}");
    hosts.server = None;
}
