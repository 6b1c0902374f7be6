//! `cargo xtask hosts`: an `MpiPool` job across three simulated hosts.
//!
//! Three network namespaces (the hosts), each pair joined by a veth pair of its own (a full
//! mesh of point-to-point links), each host with one private address that the namespaces
//! route among themselves (nothing is routed out, nothing is added to this machine's own
//! namespace). No bridge: a veth pair is the one link every sandbox tried so far forwards
//! (the managers' cross-host test uses one), while a bridge in a sandboxed kernel may be
//! created and then forward nothing, which leaves the job waiting for its daemons. `mpirun`
//! runs inside the first host with a host file of one address per host and an rsh agent (a
//! script) that starts OpenMPI's per-host daemon inside the namespace owning the address it
//! is given; the ranks talk over TCP on those links only. The job is `mpi_scenarios hosts`
//! (tests/src/bin): a `map` whose tasks report their network namespace. Checked: the sum is
//! right, and rank 0 and both workers ran in three different namespaces. Everything is
//! removed, also when something fails. Before the job, each host connects to the others over
//! TCP, so a network that does not forward is reported as such, not as a job that hangs.
//!
//! Needs root (or passwordless `sudo`, as CI runners have: then only the `ip` commands and the
//! job run through `sudo -n`), `ip` (iproute2) and `mpirun`; without them it says why and does
//! nothing.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::ci::{cargo, workspace_root};

/// The hosts' addresses: host i is 10.78.0.i (only inside the namespaces).
const SUBNET: &str = "10.78.0.0/24";
/// How long the job may take (`mpirun --timeout`); it takes about a second here.
const JOB_TIMEOUT_SECS: &str = "90";

/// A command run as root: directly when this is root, else through `sudo -n` (with the
/// variables that let OpenMPI run as root, which sudo would drop).
fn as_root(program: &str) -> Command {
    if rustix::process::geteuid().is_root() {
        let mut cmd = Command::new(program);
        cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        cmd
    } else {
        let mut cmd = Command::new("sudo");
        cmd.args([
            "-n",
            "env",
            "OMPI_ALLOW_RUN_AS_ROOT=1",
            "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
            program,
        ]);
        cmd
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = as_root("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Why the hosts cannot be simulated here, if they cannot.
fn unsupported() -> Option<String> {
    let sudo = || {
        Command::new("sudo")
            .args(["-n", "true"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !rustix::process::geteuid().is_root() && !sudo() {
        return Some(
            "not root and no passwordless sudo (network namespaces need CAP_SYS_ADMIN)".into(),
        );
    }
    for (tool, package) in [("ip", "iproute2"), ("mpirun", "openmpi-bin")] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
            || Command::new(tool)
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("no `{tool}` command (install {package})"));
        }
    }
    None
}

/// The namespaces, the veth pairs and the scratch directory; dropping it removes them all
/// (deleting a namespace deletes the interfaces inside it).
struct Hosts {
    /// Each host's namespace and its one address.
    hosts: Vec<(String, String)>,
    dir: PathBuf,
}

impl Hosts {
    fn create() -> Result<Hosts, String> {
        let id = std::process::id();
        let hosts = Hosts {
            hosts: (1..=3)
                .map(|i| (format!("mph-h{i}-{id}"), format!("10.78.0.{i}")))
                .collect(),
            dir: std::env::temp_dir().join(format!("xtask-hosts-{id}")),
        };
        // From here on, a failure drops `hosts`, which removes what was made.
        std::fs::create_dir_all(&hosts.dir).map_err(|e| format!("scratch directory: {e}"))?;
        for (ns, _) in &hosts.hosts {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        // One veth pair per pair of hosts. Each end carries its host's one address (a /32, so
        // no subnet route is implied) and a route to the peer's address through that link: a
        // host has one address whichever link a packet takes, as OpenMPI expects of a host,
        // and each link answers ARP for the address it carries.
        let n = hosts.hosts.len();
        for a in 0..n {
            for b in a + 1..n {
                let ((ns_a, addr_a), (ns_b, addr_b)) = (&hosts.hosts[a], &hosts.hosts[b]);
                // Each end is named after the host it leads to.
                let (to_b, to_a) = (format!("to-h{}", b + 1), format!("to-h{}", a + 1));
                ip(&[
                    "-n", ns_a, "link", "add", &to_b, "type", "veth", "peer", "name", &to_a,
                    "netns", ns_b,
                ])?;
                for (ns, dev, own, peer) in
                    [(ns_a, &to_b, addr_a, addr_b), (ns_b, &to_a, addr_b, addr_a)]
                {
                    ip(&["-n", ns, "addr", "add", &format!("{own}/32"), "dev", dev])?;
                    ip(&["-n", ns, "link", "set", dev, "up"])?;
                    ip(&["-n", ns, "route", "add", &format!("{peer}/32"), "dev", dev])?;
                }
            }
        }
        Ok(hosts)
    }

    /// Connects over TCP from every host to every other, from threads moved into the hosts'
    /// namespaces: a network that does not forward is said plainly here, in seconds, rather
    /// than as an MPI job that waits for its daemons until its timeout. Needs to be root
    /// (`setns`); through `sudo`, or where `setns` is refused, the check is left to the job.
    fn check_links(&self) -> Result<(), String> {
        if !rustix::process::geteuid().is_root() {
            return Ok(());
        }
        // The check is a diagnosis, not a requirement: a kernel that will not move a thread
        // into a namespace leaves the network to the job itself.
        if let Err(e) = in_namespace(&self.hosts[0].0, || Ok(())) {
            println!("hosts: no TCP check before the job ({e})");
            return Ok(());
        }
        for (to, (to_ns, to_addr)) in self.hosts.iter().enumerate() {
            let listener = in_namespace(to_ns, {
                let addr = to_addr.clone();
                move || TcpListener::bind((addr.as_str(), 0)).map_err(|e| e.to_string())
            })?;
            let port = listener.local_addr().map_err(|e| e.to_string())?.port();
            let target: SocketAddr = format!("{to_addr}:{port}")
                .parse()
                .map_err(|e| format!("{to_addr}: {e}"))?;
            for (from, (from_ns, _)) in self.hosts.iter().enumerate().filter(|(i, _)| *i != to) {
                in_namespace(from_ns, move || {
                    TcpStream::connect_timeout(&target, Duration::from_secs(10))
                        .map(drop)
                        .map_err(|e| e.to_string())
                })
                .map_err(|e| {
                    format!(
                        "the simulated network does not forward: host {} cannot connect to \
                         {target} (host {}): {e}",
                        from + 1,
                        to + 1
                    )
                })?;
            }
        }
        Ok(())
    }

    /// The host file (one slot per host) and the rsh agent, written to the scratch directory.
    fn write_launch_files(&self) -> Result<(PathBuf, PathBuf), String> {
        let hostfile = self.dir.join("hosts");
        let lines: String = self
            .hosts
            .iter()
            .map(|(_, addr)| format!("{addr} slots=1\n"))
            .collect();
        std::fs::write(&hostfile, lines).map_err(|e| format!("host file: {e}"))?;
        let agent = self.dir.join("rsh-agent");
        let cases: String = self
            .hosts
            .iter()
            .map(|(ns, addr)| format!("    {addr}) ns={ns} ;;\n"))
            .collect();
        let script = format!(
            "#!/bin/sh\n\
             # OpenMPI's rsh agent: `agent HOST COMMAND...` runs the per-host daemon inside the\n\
             # namespace that owns HOST's address.\n\
             host=\"$1\"; shift\n\
             case \"$host\" in\n{cases}    *) echo \"unknown host $host\" >&2; exit 1 ;;\nesac\n\
             exec ip netns exec \"$ns\" sh -c \"$*\"\n"
        );
        std::fs::write(&agent, script).map_err(|e| format!("rsh agent: {e}"))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("rsh agent: {e}"))?;
        Ok((hostfile, agent))
    }

    /// `mpirun` inside the first host, one rank per host, over TCP on the hosts' subnet.
    fn run_job(&self, program: &Path) -> Result<Output, String> {
        let (hostfile, agent) = self.write_launch_files()?;
        let hostfile = hostfile.display().to_string();
        let agent = agent.display().to_string();
        let program = program.display().to_string();
        let n = self.hosts.len().to_string();
        let mut cmd = as_root("ip");
        cmd.args(["netns", "exec", &self.hosts[0].0, "mpirun"])
            .args(["--allow-run-as-root", "--timeout", JOB_TIMEOUT_SECS])
            .args(["-n", &n, "--hostfile", &hostfile, "--map-by", "node"])
            .args(["--mca", "plm_rsh_agent", &agent])
            .args(["--mca", "plm_rsh_no_tree_spawn", "1"])
            .args(["--mca", "oob_tcp_if_include", SUBNET])
            .args(["--mca", "btl", "tcp,self"])
            .args(["--mca", "btl_tcp_if_include", SUBNET])
            .arg("--report-state-on-timeout")
            .args([program.as_str(), "hosts"]);
        cmd.output().map_err(|e| format!("mpirun: {e}"))
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for (ns, _) in &self.hosts {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `f` on a thread moved into the network namespace `ns` (sockets made there stay
/// in it).
fn in_namespace<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let path = Path::new("/run/netns").join(ns);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        rustix::thread::move_into_link_name_space(
            file.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(|e| format!("setns {}: {e}", path.display()))?;
        f()
    })
    .join()
    .map_err(|_| "a namespace thread panicked".to_string())?
}

/// Checks the job's output: the right sum, and three ranks in three namespaces.
fn check(stdout: &str) -> Result<(), String> {
    if !stdout.lines().any(|l| l == "ok sum 332833500") {
        return Err("the sum of squares is missing or wrong".into());
    }
    let namespaces: Vec<(&str, &str)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ns "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    let distinct: std::collections::BTreeSet<&str> = namespaces.iter().map(|(_, ns)| *ns).collect();
    if namespaces.len() != 3 || distinct.len() != 3 {
        return Err(format!(
            "expected rank 0 and two workers in three namespaces, got {namespaces:?}"
        ));
    }
    Ok(())
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("`hosts` takes no arguments, got `{a}`"));
    }
    if let Some(why) = unsupported() {
        println!("hosts: skipped: {why}");
        return Ok(());
    }
    let status = cargo()
        .args([
            "build",
            "--quiet",
            "-p",
            "multiprocessing-tests",
            "--bin",
            "mpi_scenarios",
        ])
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err("building mpi_scenarios failed".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let program = target.join("debug/mpi_scenarios");
    let hosts = Hosts::create()?;
    hosts.check_links()?;
    let out = hosts.run_job(&program)?;
    drop(hosts);
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    if !out.status.success() {
        return Err(format!(
            "the job across the hosts failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    check(&stdout)?;
    println!("hosts: an MpiPool job ran across three network namespaces; every result right");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn a_job_is_accepted_only_with_the_right_sum_and_three_namespaces() {
        let good = "ok sum 332833500\nns MainProcess net:[1]\nns MpiWorker-1 net:[2]\n\
                    ns MpiWorker-2 net:[3]\n";
        assert!(check(good).is_ok());
        let wrong_sum = good.replace("332833500", "332833499");
        assert!(check(&wrong_sum).is_err());
        // Two ranks in one namespace: the hosts were not separate.
        let shared = good.replace("net:[3]", "net:[2]");
        assert!(check(&shared).unwrap_err().contains("three namespaces"));
        let missing = "ok sum 332833500\nns MainProcess net:[1]\nns MpiWorker-1 net:[2]\n";
        assert!(check(missing).is_err());
    }
}
