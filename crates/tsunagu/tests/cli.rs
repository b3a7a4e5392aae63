//! The command line: help everywhere, configuration errors with line numbers, and the
//! admin commands a newcomer uses to set up a center.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::*;
use reqwest::StatusCode;

fn tsunagu(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tsunagu"))
        .args(args)
        .env_remove("TSUNAGU_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn help_everywhere() {
    let top = tsunagu(&["--help"], None);
    assert!(top.status.success());
    for cmd in [
        "serve",
        "demo",
        "migrate",
        "check-config",
        "tenant",
        "user",
        "token",
    ] {
        assert!(text(&top).contains(cmd), "{cmd} missing from --help");
    }
    for args in [
        vec!["serve", "--help"],
        vec!["demo", "--help"],
        vec!["migrate", "--help"],
        vec!["tenant", "add", "--help"],
        vec!["user", "add", "--help"],
        vec!["user", "passwd", "--help"],
        vec!["token", "create", "--help"],
    ] {
        let o = tsunagu(&args, None);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("Usage"), "{args:?}");
    }
    let o = tsunagu(&["serve", "--http", "not-an-address"], None);
    assert!(!o.status.success());
    assert!(text(&o).contains("--http"), "{}", text(&o));
}

#[test]
fn bad_config_is_reported_with_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tsunagu.toml");
    std::fs::write(
        &path,
        "[http]\nlisten = \"localhost\"\n\n[database]\nurl = \"mysql://x\"\n",
    )
    .unwrap();
    let o = tsunagu(&["check-config", path.to_str().unwrap()], None);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("tsunagu.toml:2:10: http.listen"), "{t}");
    assert!(t.contains("tsunagu.toml:5:7: database.url"), "{t}");
    // serve refuses the same file before touching anything.
    let o = tsunagu(&["serve", "--config", path.to_str().unwrap()], None);
    assert!(!o.status.success());
    assert!(text(&o).contains("tsunagu.toml:2:10"));

    std::fs::write(
        &path,
        "[http]\nlisten = \"127.0.0.1:9999\"\n[log]\nformat = \"json\"\n",
    )
    .unwrap();
    let o = tsunagu(&["check-config", path.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("ok (http 127.0.0.1:9999"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_up_a_center_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("data/t.db").display());
    let o = tsunagu(&["migrate", "--database", &url], None);
    assert!(o.status.success(), "{}", text(&o));
    let o = tsunagu(
        &[
            "tenant",
            "add",
            "--database",
            &url,
            "--slug",
            "acme",
            "--name",
            "ACME お客様センター",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = tsunagu(
        &[
            "tenant",
            "add",
            "--database",
            &url,
            "--slug",
            "bad slug",
            "--name",
            "x",
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("slug"), "{}", text(&o));

    let o = tsunagu(
        &[
            "user",
            "add",
            "--database",
            &url,
            "--username",
            "boss",
            "--display-name",
            "管理者",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("a-long-password\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = tsunagu(
        &[
            "user",
            "add",
            "--database",
            &url,
            "--username",
            "op1",
            "--display-name",
            "オペ1",
            "--agent",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(!o.status.success(), "a short password is refused");
    assert!(text(&o).contains("password"));
    let o = tsunagu(&["user", "list", "--database", &url], None);
    assert!(text(&o).contains("boss\tadmin\t管理者"), "{}", text(&o));
    let o = tsunagu(
        &[
            "token",
            "create",
            "--database",
            &url,
            "--username",
            "boss",
            "--name",
            "CI",
        ],
        None,
    );
    assert!(o.status.success());
    let api_token = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(api_token.starts_with("tsg_"));

    // The center answers with what the CLI created.
    let store = tsunagu_store::Store::open(&url).await.unwrap();
    let srv = TestServer::serve(tsunagu_store::testdb::TestDb::sqlite(), store).await;
    let boss = Client::login(&srv.base, Some("acme"), "boss", "a-long-password").await;
    assert_eq!(boss.ok("/api/tenant").await["name"], "ACME お客様センター");
    let reasons = boss.ok("/api/reasons").await;
    assert!(reasons
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["code"] == "break" && r["name_ja"] == "休憩"));
    let api = Client {
        token: Some(api_token),
        ..Client::anonymous(&srv.base)
    };
    let (s, _) = api.get("/api/users").await;
    assert_eq!(s, StatusCode::OK);
}
