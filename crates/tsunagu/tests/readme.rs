//! The README's commands, run as written, so the README cannot drift from the program
//! (issue 7, fault kind 12: its agent phone said auto-answer but set `answermode=manual`,
//! and the demo's banner suggested a baresip command without its folder).
//!
//! Every `sh` block of the README is either run here or listed with the reason it is not
//! ([`COVERAGE`]); a new block fails [`every_shell_block_is_covered`] until it is one or the
//! other. What is run: the tour with curl against a started demo (every request must
//! succeed), the baresip folders prepared exactly as the README says — a caller that dials
//! the demo and types its keys, and 佐藤さん's phone, which must register and answer the
//! call by itself — the demo's banner against the README's dial command, and setting up a
//! real center from the command line through `tsunagu serve`. The only liberties: the
//! addresses (the README's 127.0.0.1:8080/5060/5070/5080 become free ports) and, since
//! the machine running the tests has no sound card, baresip's sound-card lines point at a
//! tone from a file and a null player.

mod common;
mod phone;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use phone::*;
use serde_json::Value;

use common::{Client, AGENT_PW};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap()
}

/// A fenced block: its language and its text.
struct Block {
    lang: String,
    text: String,
}

fn blocks() -> Vec<Block> {
    let mut out = Vec::new();
    let mut cur: Option<Block> = None;
    for line in readme().lines() {
        match (&mut cur, line.strip_prefix("```")) {
            (None, Some(lang)) => {
                cur = Some(Block {
                    lang: lang.trim().to_string(),
                    text: String::new(),
                })
            }
            (Some(_), Some(_)) => out.extend(cur.take()),
            (Some(b), None) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

/// The `sh` block that starts with `first`.
fn sh(first: &str) -> String {
    blocks()
        .into_iter()
        .find(|b| b.lang == "sh" && b.text.starts_with(first))
        .unwrap_or_else(|| panic!("no sh block starting with {first:?} in the README"))
        .text
}

/// The `text` block that mentions `file` (e.g. `caller/config`).
fn text_block(file: &str) -> String {
    blocks()
        .into_iter()
        .find(|b| b.lang == "text" && b.text.contains(&format!("# {file}")))
        .unwrap_or_else(|| panic!("no text block for {file} in the README"))
        .text
}

#[allow(dead_code)] // The names are for the reader.
enum Cover {
    /// Run by the named test of this file.
    Run(&'static str),
    /// Not run, and why.
    Skip(&'static str),
}

/// Every `sh` block of the README, by its first line.
const COVERAGE: &[(&str, Cover)] = &[
    (
        "cargo run --release -- demo",
        Cover::Skip(
            "the quick start: ./scripts/test is the command that runs this very test, and \
             the demo it starts is the binary the_readme_runs_against_the_demo starts",
        ),
    ),
    (
        "B=http://127.0.0.1:8080",
        Cover::Run("the_readme_runs_against_the_demo"),
    ),
    (
        "baresip -f caller -e",
        Cover::Run("the_readme_runs_against_the_demo"),
    ),
    (
        "baresip -f sato",
        Cover::Run("the_readme_runs_against_the_demo"),
    ),
    (
        "tsunagu migrate",
        Cover::Run("a_real_center_is_set_up_as_written"),
    ),
    (
        "cargo bench",
        Cover::Skip("benchmarks take minutes; ./scripts/test builds them (cargo bench --no-run)"),
    ),
    (
        "scripts/bench-voice",
        Cover::Skip(
            "the voice benchmark takes minutes and two cores to itself; \
             every_shell_block_is_covered checks that the script and its modes exist",
        ),
    ),
];

#[test]
fn every_shell_block_is_covered() {
    for b in blocks().iter().filter(|b| b.lang == "sh") {
        let covered = COVERAGE.iter().any(|(first, _)| b.text.starts_with(first));
        assert!(
            covered,
            "README block not run by any test and not listed as skipped:\n{}",
            b.text
        );
    }
    for (first, cover) in COVERAGE {
        let _ = sh(first); // still in the README
        if let Cover::Skip(why) = cover {
            assert!(!why.is_empty());
        }
    }
    // The benchmark script and the modes the README gives it (the choices of its argument
    // parser; not run, so the test needs no Python).
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let script = std::fs::read_to_string(root.join("scripts/bench-voice")).unwrap();
    for mode in ["setup", "bridged", "overload"] {
        assert!(
            script.contains(&format!("\"{mode}\"")),
            "scripts/bench-voice has no mode {mode}"
        );
    }
}

/// Runs a README shell block with bash (`set -eo pipefail`) in `dir`, with `tsunagu` on the
/// PATH and `curl` failing on any HTTP error. Returns stdout.
fn bash(dir: &Path, script: &str) -> String {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_tsunagu"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // curl as the README uses it, but an HTTP error stops the script with its body.
    let prelude = r#"set -eo pipefail
curl() {
    local out code
    out=$(command curl -sS -w '\n%{http_code}' "$@") || return 1
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    printf '%s' "$out"
    if [ "$code" -ge 400 ]; then echo "curl $*: HTTP $code: $out" >&2; exit 1; fi
}
"#;
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "README block failed ({}):\n{script}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A baresip folder prepared as the README says: baresip run once to write its default
/// files, then the README's edits — `config` lines replace the line with the same key
/// (commented out or not), `accounts` becomes the lines given. `ports` maps the README's
/// addresses to the test's.
fn prepare_folder(root: &Path, name: &str, ports: &[(&str, String)]) -> PathBuf {
    let dir = root.join(name);
    let mut first = Command::new("baresip")
        .args(["-f", &dir.display().to_string()])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip is installed (./scripts/test installs it)");
    for _ in 0..100 {
        if dir.join("accounts").exists() && dir.join("config").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let _ = first.kill();
    let _ = first.wait();
    let subst = |s: &str| {
        ports
            .iter()
            .fold(s.to_string(), |acc, (from, to)| acc.replace(from, to))
    };
    let block = subst(&text_block(&format!("{name}/config")));
    let mut section = String::new();
    let mut edits: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            if c.starts_with(&format!("{name}/")) {
                section = c
                    .split([':', ' '])
                    .next()
                    .unwrap()
                    .trim_start_matches(&format!("{name}/"))
                    .to_string();
            }
            continue;
        }
        if !line.trim().is_empty() {
            edits.push((section.clone(), line.to_string()));
        }
    }
    let config = std::fs::read_to_string(dir.join("config")).unwrap();
    let mut config: Vec<String> = config.lines().map(str::to_string).collect();
    let mut accounts = String::new();
    for (file, line) in &edits {
        match file.as_str() {
            "config" => {
                let key = line.split_whitespace().next().unwrap();
                let at = config
                    .iter()
                    .position(|l| l.trim_start_matches('#').split_whitespace().next() == Some(key));
                match at {
                    Some(i) => config[i] = line.clone(),
                    None => panic!("{name}/config has no line {key} to change"),
                }
            }
            "accounts" => {
                accounts.push_str(line);
                accounts.push('\n');
            }
            other => panic!("the README edits {name}/{other}, which the test does not know"),
        }
    }
    assert!(!accounts.is_empty(), "the README gives {name}/accounts");
    // The stand-in for a sound card (see the top of this file).
    let voice = dir.join("voice.wav");
    tone_wav(&voice, 440.0, 60);
    for l in config.iter_mut() {
        let key = l.split_whitespace().next().unwrap_or_default().to_string();
        match key.as_str() {
            "audio_player" | "audio_alert" => *l = format!("{key} aubridge,nil"),
            "audio_source" => *l = format!("{key} aufile,{}", voice.display()),
            _ => {}
        }
    }
    config.push("module aufile.so".into());
    config.push("module aubridge.so".into());
    std::fs::write(dir.join("config"), config.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("accounts"), accounts).unwrap();
    dir
}

/// Starts a README `baresip …` command (first line of its block, addresses mapped) in
/// `root`, its keyboard a pipe.
fn start_baresip(root: &Path, command: &str, log: &str) -> Child {
    let log = std::fs::File::create(root.join(log)).unwrap();
    Command::new("bash")
        .arg("-c")
        .arg(format!("exec {command}"))
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn ivr_entered(c: &Client, id: i64, node: &str, root: &Path) {
    let mut v = Value::Null;
    for _ in 0..300 {
        v = c.ok(&format!("/api/contacts/{id}")).await;
        if events(&v, "ivr")
            .iter()
            .any(|e| e["data"]["event"] == "enter" && e["data"]["node"] == node)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "contact {id} never reached the IVR node {node}: {v:#}\ncaller:\n{}",
        std::fs::read_to_string(root.join("caller.log")).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_runs_against_the_demo() {
    let demo = Demo::start().await;
    let work = tempfile::tempdir().unwrap();
    let root = work.path();
    let http = demo.base.trim_start_matches("http://").to_string();
    let ports = vec![
        ("127.0.0.1:8080", http.clone()),
        ("127.0.0.1:5060", demo.sip.clone()),
        ("127.0.0.1:5070", format!("127.0.0.1:{}", free_port())),
        ("127.0.0.1:5080", format!("127.0.0.1:{}", free_port())),
    ];
    let subst = |s: &str| {
        ports
            .iter()
            .fold(s.to_string(), |acc, (from, to)| acc.replace(from, to))
    };

    // The banner suggests the README's command to call the demo, folder included.
    let dial = subst(sh("baresip -f caller -e").trim());
    // The banner is printed just after the server starts answering: wait for it.
    let mut banner = demo.log();
    for _ in 0..200 {
        if banner.contains("call:") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        banner = demo.log();
    }
    let suggested = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("call:"))
        .map(|l| {
            l.split("   ")
                .find(|p| !p.trim().is_empty())
                .unwrap()
                .trim()
        })
        .unwrap_or_else(|| panic!("no call line in the banner:\n{banner}"));
    assert_eq!(suggested, dial, "the banner's command is not the README's");

    // The tour, every request answered without error; its variables kept for later.
    let tour = subst(&sh("B=http://127.0.0.1:8080"));
    bash(
        root,
        &format!("{tour}\ndeclare -p B SV SATO AGENT > vars.sh\n"),
    );

    // 佐藤さん's phone, prepared and started as the README says; it registers.
    prepare_folder(root, "sato", &ports);
    let block = subst(&sh("baresip -f sato"));
    let mut lines = block.lines();
    let _phone = Kill(start_baresip(root, lines.next().unwrap(), "sato.log"));
    let check = lines.collect::<Vec<_>>().join("\n");
    let mut registered = false;
    for _ in 0..50 {
        let out = bash(root, &format!(". ./vars.sh\n{check}\n"));
        let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        if v["registrations"].as_array().is_some_and(|r| !r.is_empty()) {
            registered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        registered,
        "sato's phone did not register: {}",
        std::fs::read_to_string(root.join("sato.log")).unwrap_or_default()
    );

    // The caller, prepared as the README says, calls and types key 1 (orders: an order
    // number ended with #). The call is linked to 山田 太郎 and her phone answers by itself.
    let sv = demo.sv().await;
    let sato = demo.login("sato", AGENT_PW).await;
    sato.set_state("available").await;
    prepare_folder(root, "caller", &ports);
    let since = jiff::Timestamp::now().as_millisecond();
    let mut caller = Kill(start_baresip(root, &dial, "caller.log"));
    let c = demo.call_since(&sv, since).await;
    let id = c["id"].as_i64().unwrap();
    assert_eq!(c["customer_address"], "+81355550101");
    assert!(c["customer_id"].is_i64(), "linked to the customer: {c}");
    let mut keys = caller.0.stdin.take().unwrap();
    ivr_entered(&sv, id, "menu", root).await;
    keys.write_all(b"1").unwrap();
    keys.flush().unwrap();
    ivr_entered(&sv, id, "order_number", root).await;
    keys.write_all(b"1#").unwrap();
    keys.flush().unwrap();
    let done = demo
        .wait_status(&sv, id, "connected", Duration::from_secs(15))
        .await;
    assert_eq!(done["contact"]["agent_id"], sato.agent_id(), "{done:#}");
    // The caller hangs up (baresip's key b): after-call work starts, as for any contact.
    keys.write_all(b"b").unwrap();
    keys.flush().unwrap();
    demo.wait_status(&sv, id, "wrap_up", Duration::from_secs(10))
        .await;
    drop(keys);
    drop(caller);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_center_is_set_up_as_written() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path();
    let block = sh("tsunagu migrate");
    let (setup, serve) = block.trim_end().rsplit_once('\n').unwrap();
    assert!(
        serve.starts_with("tsunagu serve --config tsunagu.toml"),
        "{serve}"
    );
    std::fs::write(root.join("boss-password.txt"), "boss-password-1\n").unwrap();
    std::fs::create_dir_all(root.join("data")).unwrap();
    bash(root, setup);
    // A configuration file: the README's [sip] example (checked as it is), and HTTP on a
    // free port with the database of the commands above.
    let sip = blocks()
        .into_iter()
        .find(|b| b.lang == "toml" && b.text.starts_with("[sip]"))
        .expect("the README's [sip] example")
        .text;
    std::fs::write(root.join("sip.toml"), &sip).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tsunagu"))
        .args(["check-config", "sip.toml"])
        .env("CARRIER_SIP_PASSWORD", "a-secret")
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the README's [sip] example: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    std::fs::write(
        root.join("tsunagu.toml"),
        format!(
            "[http]\nlisten = \"127.0.0.1:{port}\"\n\n[database]\nurl = \"sqlite://./data/tsunagu.db\"\n"
        ),
    )
    .unwrap();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_tsunagu"));
    let log = std::fs::File::create(root.join("serve.log")).unwrap();
    let _server = Kill(
        Command::new("bash")
            .arg("-c")
            .arg(format!("exec {serve}"))
            .current_dir(root)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin.parent().unwrap().display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        up,
        "tsunagu serve did not come up: {}",
        std::fs::read_to_string(root.join("serve.log")).unwrap_or_default()
    );
    // The admin made above logs in to the tenant made above.
    let boss = Client::login(&base, Some("acme"), "boss", "boss-password-1").await;
    assert_eq!(boss.me["user"]["role"], "admin");
    assert_eq!(boss.me["tenant"]["slug"], "acme");
}
