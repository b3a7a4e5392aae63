//! Tidy: the architecture invariants of ARCHITECTURE.md that a test can check, checked on
//! the source tree itself (no build of anything else, no network).
//!
//! * The sans-IO cores (`acd`, `flow`, `voice`, `contact`, `wfm`, `domain`, and `media` outside its `engine`)
//!   depend on no runtime, database, web framework or socket crate, and their code opens no
//!   socket or file, reads no clock and never sleeps.
//! * No crate holds more than [`MAX_CRATE_SHARE`] of the library code.
//! * Only `api` knows HTTP and the API's JSON shapes (axum, utoipa, DTOs).
//! * Crates depend one way only: each crate's workspace dependencies are in [`LAYERS`].
//! * `anyhow` is for the binary only; libraries have typed errors (no `Result<_, String>`).
//! * Every `poll_*` output of a core is `#[must_use]`, and every core's lib.rs states its
//!   drive contract.
//! * No source file passes [`MAX_LINES`]; the files listed in [`OVERSIZED`] are debts that
//!   may only shrink (the restructure of the center core pays them off).
//!
//! Each failure names the file and line and what rule it breaks.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// A source file longer than this is hard to read in one sitting.
const MAX_LINES: usize = 800;

/// Files over [`MAX_LINES`] today, with the most lines each may have. Lower a ceiling when a
/// file shrinks; remove the entry when it is under the limit (the test says when).
const OVERSIZED: &[(&str, usize)] = &[];

/// The workspace crates each crate may depend on (normal dependencies). Lower layers never
/// name higher ones: cores know nothing of storage, the shells or HTTP.
const LAYERS: &[(&str, &[&str])] = &[
    ("acd", &[]),
    ("flow", &[]),
    ("media", &[]),
    ("sip", &[]),
    ("domain", &["acd"]),
    ("voice", &["flow", "media"]),
    ("contact", &["acd", "domain"]),
    ("wfm", &["acd", "contact", "domain"]),
    ("store", &["domain"]),
    (
        "runtime",
        &[
            "acd", "domain", "contact", "store", "voice", "sip", "flow", "media",
        ],
    ),
    (
        "api",
        &["runtime", "acd", "domain", "store", "voice", "flow", "sip"],
    ),
    (
        "tsunagu",
        &[
            "acd", "domain", "store", "runtime", "api", "sip", "voice", "flow", "media",
        ],
    ),
];

/// The sans-IO cores, with the files exempt (the IO shell that lives beside a core).
const SANS_IO: &[(&str, &[&str])] = &[
    ("acd", &[]),
    ("flow", &[]),
    ("voice", &[]),
    ("domain", &[]),
    ("contact", &[]),
    ("wfm", &[]),
    ("media", &["src/engine.rs"]),
];

/// Crates a sans-IO core must not depend on (optional ones for an exempt shell are allowed).
const IO_CRATES: &[&str] = &[
    "tokio",
    "tokio-util",
    "tokio-tungstenite",
    "sqlx",
    "axum",
    "axum-extra",
    "hyper",
    "reqwest",
    "mio",
    "socket2",
    "rsipstack",
];

/// Crates only the HTTP API (`api`) may use: the runtime below it knows no HTTP and no
/// JSON shapes of the API.
const HTTP_CRATES: &[&str] = &[
    "axum",
    "axum-extra",
    "hyper",
    "tower",
    "tower-http",
    "utoipa",
    "utoipa-axum",
    "tokio-tungstenite",
];

/// The most of the workspace's library code (lines under `crates/*/src`) one crate may
/// hold, in %: past it, a crate is where everything lands and should be split.
const MAX_CRATE_SHARE: f64 = 20.0;

/// Crates that are not the HTTP API and must not become it.
const NOT_HTTP: &[&str] = &[
    "acd", "flow", "media", "sip", "domain", "voice", "contact", "wfm", "store", "runtime",
];

/// What a sans-IO core's code must not contain (outside comments), and why.
const IO_CODE: &[(&str, &str)] = &[
    ("tokio::", "an async runtime"),
    ("sqlx::", "SQL"),
    ("axum::", "HTTP"),
    ("mio::", "a poller"),
    ("UdpSocket", "a socket"),
    ("TcpStream", "a socket"),
    ("TcpListener", "a socket"),
    ("std::fs", "files"),
    ("File::open", "files"),
    ("::now()", "a clock"),
    ("Instant", "a clock"),
    ("thread::sleep", "sleeping"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn rel(p: &Path) -> String {
    let root = root().canonicalize().unwrap();
    p.canonicalize()
        .unwrap()
        .strip_prefix(&root)
        .unwrap()
        .display()
        .to_string()
}

/// A crate's source files under `src/`: (path from the workspace root, text).
fn sources(krate: &str) -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&root().join("crates").join(krate).join("src"), &mut files);
    files
        .into_iter()
        .map(|f| (rel(&f), fs::read_to_string(&f).unwrap()))
        .collect()
}

/// The `[dependencies]` table of a crate's manifest: name → optional?
fn dependencies(krate: &str) -> BTreeMap<String, bool> {
    let text = fs::read_to_string(root().join("crates").join(krate).join("Cargo.toml")).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    doc.get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| {
            t.iter()
                .map(|(name, v)| {
                    let optional = v.get("optional").and_then(|o| o.as_bool()).unwrap_or(false);
                    (name.clone(), optional)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Code lines (comments and doc comments left out), numbered from 1.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let t = l.trim_start();
        (!t.starts_with("//")).then_some((i + 1, l))
    })
}

#[test]
fn no_crate_holds_more_than_its_share() {
    let mut lines = BTreeMap::new();
    for e in fs::read_dir(root().join("crates")).unwrap().flatten() {
        let krate = e.file_name().to_string_lossy().to_string();
        let n: usize = sources(&krate).iter().map(|(_, t)| t.lines().count()).sum();
        lines.insert(krate, n);
    }
    let total: usize = lines.values().sum();
    let faults: Vec<String> = lines
        .iter()
        .map(|(k, &n)| (k, n, 100.0 * n as f64 / total as f64))
        .filter(|(_, _, share)| *share > MAX_CRATE_SHARE)
        .map(|(k, n, share)| {
            format!("crates/{k}: {n} of {total} lines ({share:.1} %), more than {MAX_CRATE_SHARE} %: split it")
        })
        .collect();
    assert!(faults.is_empty(), "\n{}\n", faults.join("\n"));
}

#[test]
fn only_the_api_knows_http() {
    let mut faults = Vec::new();
    for krate in NOT_HTTP {
        for dep in dependencies(krate).keys() {
            if HTTP_CRATES.contains(&dep.as_str()) {
                faults.push(format!(
                    "crates/{krate}/Cargo.toml: depends on {dep}; HTTP and the API's JSON shapes belong to crates/api"
                ));
            }
        }
        for (name, text) in sources(krate) {
            for (n, line) in code_lines(&text) {
                for needle in ["axum::", "utoipa::", "ToSchema", "tsunagu_api"] {
                    if line.contains(needle) {
                        faults.push(format!(
                            "{name}:{n}: `{needle}` outside crates/api: the runtime and the cores know no HTTP"
                        ));
                    }
                }
            }
        }
    }
    assert!(faults.is_empty(), "\n{}\n", faults.join("\n"));
}

#[test]
fn sans_io_cores_have_no_io() {
    let mut faults = Vec::new();
    for (krate, exempt) in SANS_IO {
        for (dep, optional) in dependencies(krate) {
            // An optional dependency is allowed for the exempt IO shell beside the core.
            let for_the_shell = optional && !exempt.is_empty();
            if IO_CRATES.contains(&dep.as_str()) && !for_the_shell {
                faults.push(format!(
                    "crates/{krate}/Cargo.toml: the sans-IO core depends on {dep}"
                ));
            }
        }
        let mut files = Vec::new();
        rust_files(&root().join("crates").join(krate).join("src"), &mut files);
        for f in files {
            let name = rel(&f);
            if exempt.iter().any(|e| name == format!("crates/{krate}/{e}")) {
                continue;
            }
            let text = fs::read_to_string(&f).unwrap();
            // Tests inside a core may use what they like.
            let text = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in code_lines(text) {
                for (needle, what) in IO_CODE {
                    if line.contains(needle) {
                        faults.push(format!(
                            "{name}:{n}: a sans-IO core uses {what} (`{needle}`): pass it in as a value"
                        ));
                    }
                }
            }
        }
    }
    assert!(faults.is_empty(), "\n{}\n", faults.join("\n"));
}

#[test]
fn crates_depend_one_way() {
    let mut faults = Vec::new();
    let mut crates: Vec<String> = fs::read_dir(root().join("crates"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    for krate in &crates {
        let Some((_, allowed)) = LAYERS.iter().find(|(k, _)| k == krate) else {
            faults.push(format!(
                "crates/{krate}: not in LAYERS (tests/tidy.rs) — say where it sits"
            ));
            continue;
        };
        for (dep, _) in dependencies(krate) {
            let Some(inner) = dep.strip_prefix("tsunagu-") else {
                continue;
            };
            if !allowed.contains(&inner) {
                faults.push(format!(
                    "crates/{krate}/Cargo.toml: depends on {dep}, which LAYERS does not allow it (a dependency the wrong way)"
                ));
            }
        }
        if krate != "tsunagu" && dependencies(krate).contains_key("anyhow") {
            faults.push(format!(
                "crates/{krate}/Cargo.toml: anyhow in a library — give it a typed error (thiserror)"
            ));
        }
    }
    assert!(faults.is_empty(), "\n{}\n", faults.join("\n"));
}

#[test]
fn libraries_have_typed_errors() {
    let mut faults = Vec::new();
    let crates: Vec<&str> = LAYERS
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| *k != "tsunagu")
        .collect();
    for krate in crates {
        for (name, text) in sources(krate) {
            let text = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in code_lines(text) {
                if line.contains("Result<") && line.contains(", String>") {
                    faults.push(format!(
                        "{name}:{n}: an error as a String — give it a thiserror type"
                    ));
                }
            }
        }
    }
    assert!(faults.is_empty(), "\n{}\n", faults.join("\n"));
}

#[test]
fn cores_state_their_drive_contract_and_poll_outputs_are_must_use() {
    let mut faults = Vec::new();
    for (krate, _) in SANS_IO {
        if *krate == "domain" {
            continue; // formulas and rules, no state machine to drive
        }
        let lib = root().join("crates").join(krate).join("src/lib.rs");
        let text = fs::read_to_string(&lib).unwrap();
        if !text.contains("Drive contract") {
            faults.push(format!(
                "crates/{krate}/src/lib.rs: no '## Drive contract' section (which poll_* to drain after which input)"
            ));
        }
        for (name, text) in sources(krate) {
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if !line.trim_start().starts_with("pub fn poll_") {
                    continue;
                }
                let attrs = lines[..i]
                    .iter()
                    .rev()
                    .take_while(|l| {
                        let t = l.trim_start();
                        t.starts_with("///") || t.starts_with("#[")
                    })
                    .any(|l| l.contains("#[must_use]"));
                if !attrs {
                    faults.push(format!(
                        "{name}:{}: a poll_* output without #[must_use]",
                        i + 1
                    ));
                }
            }
        }
    }
    assert!(faults.is_empty(), "\n{}\n", faults.join("\n"));
}

#[test]
fn no_file_a_newcomer_dreads() {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    let mut faults = Vec::new();
    for f in files {
        let name = rel(&f);
        let lines = fs::read_to_string(&f).unwrap().lines().count();
        match OVERSIZED.iter().find(|(n, _)| *n == name) {
            Some((_, ceiling)) if lines > *ceiling => faults.push(format!(
                "{name}: {lines} lines, more than its ceiling {ceiling} — split it instead of growing it"
            )),
            Some(_) if lines <= MAX_LINES => faults.push(format!(
                "{name}: {lines} lines, under {MAX_LINES} now — take it off OVERSIZED in tests/tidy.rs"
            )),
            Some(_) => {}
            None if lines > MAX_LINES => faults.push(format!(
                "{name}: {lines} lines, more than {MAX_LINES} — split it by purpose"
            )),
            None => {}
        }
    }
    for (name, _) in OVERSIZED {
        if !root().join(name).exists() {
            faults.push(format!(
                "{name}: listed in OVERSIZED but gone — take it off"
            ));
        }
    }
    assert!(faults.is_empty(), "\n{}\n", faults.join("\n"));
}
