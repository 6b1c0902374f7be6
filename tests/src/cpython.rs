//! CPython on this machine and what it recorded: discovery of every CPython 3.8+, the captured
//! vectors under `tests/data/cpython/`, and hex.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Decodes a hex string.
pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Loads a captured CPython JSON file from `tests/data/cpython/`.
pub fn vectors(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/cpython")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

/// A CPython interpreter found on this machine.
#[derive(Debug, Clone)]
pub struct Python {
    /// `3.11`, `3.12`, ...
    pub version: String,
    /// The program to run (`python3`, `python3.12`, ...).
    pub program: String,
    /// Value for `PYENV_VERSION`, if it selects this interpreter.
    pub pyenv: Option<String>,
}

impl Python {
    /// A command running this interpreter.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        match &self.pyenv {
            Some(v) => c.env("PYENV_VERSION", v),
            None => c.env_remove("PYENV_VERSION"),
        };
        c
    }

    /// Whether this version speaks the modern `{sha256}` handshake.
    pub fn modern(&self) -> bool {
        self.minor() >= 12
    }

    fn minor(&self) -> u32 {
        self.version
            .split('.')
            .nth(1)
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }
}

/// The `major.minor` version the interpreter reports, if it runs.
fn probe(candidate: &Python) -> Option<String> {
    let out = candidate
        .command()
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Oldest CPython whose `multiprocessing.connection` we test against: 3.8 brought the framing
/// extension for huge messages, and every version since speaks one of the two handshakes.
const OLDEST_MINOR: u32 = 8;

/// Every CPython 3.8+ on the machine: `python3` itself (required: the test fails without it),
/// the versions pyenv has installed and `python3.X` programs on the path. Prints which ones.
pub fn pythons() -> Vec<Python> {
    static FOUND: OnceLock<Vec<Python>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let mut candidates = vec![Python {
                version: String::new(),
                program: "python3".into(),
                pyenv: None,
            }];
            let pyenv_root = std::env::var_os("PYENV_ROOT")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
            if let Some(Ok(dir)) = pyenv_root.map(|r| std::fs::read_dir(r.join("versions"))) {
                let mut names: Vec<String> = dir
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect();
                names.sort();
                candidates.extend(names.into_iter().map(|v| Python {
                    version: String::new(),
                    program: "python3".into(),
                    pyenv: Some(v),
                }));
            }
            candidates.extend((OLDEST_MINOR..=20).map(|m| Python {
                version: String::new(),
                program: format!("python3.{m}"),
                pyenv: None,
            }));
            // Probed all at once: each start through a pyenv shim takes a good part of a
            // second, and there are some twenty candidates.
            let probed: Vec<(Python, Option<String>)> = std::thread::scope(|s| {
                let probes: Vec<_> = candidates
                    .into_iter()
                    .map(|c| {
                        s.spawn(move || {
                            let version = probe(&c);
                            (c, version)
                        })
                    })
                    .collect();
                probes
                    .into_iter()
                    .map(|p| p.join().expect("a probe thread"))
                    .collect()
            });
            let mut found: Vec<Python> = Vec::new();
            for (i, (mut c, version)) in probed.into_iter().enumerate() {
                match version {
                    Some(v) => c.version = v,
                    None if i == 0 => {
                        panic!("python3 is required for the CPython interoperability tests")
                    }
                    None => continue,
                }
                if c.minor() >= OLDEST_MINOR && !found.iter().any(|p| p.version == c.version) {
                    found.push(c);
                }
            }
            found.sort_by_key(Python::minor);
            let names: Vec<&str> = found.iter().map(|p| p.version.as_str()).collect();
            eprintln!("CPython versions under test: {}", names.join(", "));
            println!("CPython versions under test: {}", names.join(", "));
            found
        })
        .clone()
}
