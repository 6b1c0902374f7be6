//! Helpers shared by the connection tests: hex, CPython discovery, example binaries.
#![allow(dead_code, unreachable_pub)]

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
    /// Value for `PYENV_VERSION`, if it selects this interpreter.
    pub pyenv: Option<String>,
}

impl Python {
    /// A `python3` command for this interpreter.
    pub fn command(&self) -> Command {
        let mut c = Command::new("python3");
        match &self.pyenv {
            Some(v) => c.env("PYENV_VERSION", v),
            None => c.env_remove("PYENV_VERSION"),
        };
        c
    }

    /// Whether this version speaks the modern `{sha256}` handshake.
    pub fn modern(&self) -> bool {
        self.version.as_str() >= "3.12"
    }
}

fn probe(pyenv: Option<&str>) -> Option<String> {
    let mut c = Command::new("python3");
    match pyenv {
        Some(v) => c.env("PYENV_VERSION", v),
        None => c.env_remove("PYENV_VERSION"),
    };
    let out = c
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Every CPython on the machine: `python3` itself (required: the test fails without it) and
/// 3.12/3.13 through pyenv when installed. Prints which ones were found.
pub fn pythons() -> Vec<Python> {
    static FOUND: OnceLock<Vec<Python>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let base =
                probe(None).expect("python3 is required for the CPython interoperability tests");
            let mut found = vec![Python {
                version: base.clone(),
                pyenv: None,
            }];
            for v in ["3.12.1", "3.13.0"] {
                if let Some(ver) = probe(Some(v))
                    && v.starts_with(&ver)
                    && !found.iter().any(|p| p.version == ver)
                {
                    found.push(Python {
                        version: ver,
                        pyenv: Some(v.to_string()),
                    });
                }
            }
            let names: Vec<&str> = found.iter().map(|p| p.version.as_str()).collect();
            eprintln!("CPython versions under test: {}", names.join(", "));
            println!("CPython versions under test: {}", names.join(", "));
            found
        })
        .clone()
}

/// A fresh Unix socket path in a temporary directory that is removed on drop.
pub struct TempSock {
    dir: PathBuf,
    /// The socket path.
    pub path: PathBuf,
}

impl TempSock {
    /// Makes a unique directory under the system temp dir.
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("mp-conn-test-{}-{tag}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("sock");
        TempSock { dir, path }
    }
}

impl Drop for TempSock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
