//! Flow files: the demo flow loads; mistakes are reported with line numbers; the
//! interpreter walks menus, digits, hours, lookups and queues with a fake clock.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use tsunagu_flow::*;

fn assets() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"))
}

fn prompt_exists(lang: &str, name: &str) -> bool {
    let p = assets().join("prompts");
    p.join(lang).join(format!("{name}.wav")).exists() || p.join(format!("{name}.wav")).exists()
}

fn checks() -> Checks<'static> {
    Checks {
        prompt_exists: &prompt_exists,
        queue_exists: &|q| ["orders", "support", "billing", "complaints", "english"].contains(&q),
        skill_exists: &|s| ["english", "orders"].contains(&s),
        // What the server passes: the phone-number rule of the domain crate, in short.
        number_ok: &|n| {
            let digits = n.chars().filter(char::is_ascii_digit).count();
            let shape = n
                .trim_start_matches('+')
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '-' | ' ' | '(' | ')'));
            if shape && (3..=15).contains(&digits) {
                Ok(())
            } else {
                Err(NumberRefused("3 to 15 digits".into()))
            }
        },
    }
}

fn demo() -> Arc<Flow> {
    let text = std::fs::read_to_string(assets().join("flows/main.toml")).unwrap();
    Arc::new(load("main.toml", &text, &checks()).unwrap())
}

#[test]
fn the_demo_flow_loads_cleanly() {
    let f = demo();
    assert_eq!(f.start, "welcome");
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
}

fn errors(text: &str) -> Vec<String> {
    match load("f.toml", text, &checks()) {
        Ok(_) => vec![],
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn mistakes_are_reported_with_line_numbers() {
    let e = errors("name = \"x\"\nstart = \"a\"\n\n[nodes.a]\ntype = \"play\"\nprompt = \"welcome\"\nnext = \"b\"\n");
    assert_eq!(
        e,
        vec!["f.toml:4:1: node `a` (play): next goes to `b`, which is not a node"]
    );

    let e = errors("name = \"x\"\nstart = \"a\"\n\n[nodes.a]\ntype = \"transfer\"\nnumber = \"call me\"\non_failure = \"nowhere\"\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e.iter()
            .all(|x| x.starts_with("f.toml:4:1: node `a` (transfer)")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|x| x.contains("`call me` is not a phone number")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|x| x.contains("on_failure goes to `nowhere`")),
        "{e:?}"
    );

    let e = errors("name = \"x\"\nstart = \"a\"\n[nodes.a]\ntype = \"dance\"\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("f.toml:4:") || e[0].starts_with("f.toml:3:"),
        "{e:?}"
    );
    assert!(e[0].contains("dance"), "{e:?}");

    let e = errors("name = \"x\"\nstart = \"a\"\ncolour = 1\n[nodes.a]\ntype = \"hangup\"\n");
    assert!(
        e[0].starts_with("f.toml:3:1:") && e[0].contains("colour"),
        "{e:?}"
    );

    let text = r#"name = "x"
start = "m"

[nodes.m]
type = "menu"
prompt = "no_such_prompt"
options = { "12" = "m", "5" = "q" }
timeout_secs = 0

[nodes.q]
type = "queue"
queue = "sales"
requirements = [{ skill = "english", steps = [[0, 2], [10, 4]] }]

[nodes.orphan]
type = "hangup"
"#;
    let e = errors(text);
    assert!(
        e.iter()
            .any(|x| x
                == "f.toml:4:1: node `m` (menu): option \"12\" is not a single key (0-9, *, #)"),
        "{e:?}"
    );
    assert!(e
        .iter()
        .any(|x| x.contains("timeout_secs must be between 1 and 60")));
    assert!(
        e.iter()
            .any(|x| x.starts_with("f.toml:10:1") && x.contains("queue `sales` does not exist")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|x| x.contains("never require a higher level")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|x| x.contains("prompt `no_such_prompt` does not exist for language `ja`")),
        "{e:?}"
    );
}

#[test]
fn unreachable_nodes_are_warnings() {
    let f = load(
        "f.toml",
        "name = \"x\"\nstart = \"a\"\n[nodes.a]\ntype = \"hangup\"\n[nodes.b]\ntype = \"hangup\"\n",
        &checks(),
    )
    .unwrap();
    assert_eq!(f.warnings, vec!["f.toml:5:1: node `b` is never reached"]);
}

/// A run of `flow` for a call from `caller` to `called`, started at `now`.
fn started(flow: Arc<Flow>, caller: &str, called: &str, now: i64) -> Run {
    let mut r = Run::new(flow, caller, called);
    r.start(now);
    r
}

fn steps(r: &mut Run) -> Vec<Step> {
    std::iter::from_fn(|| r.poll_step()).collect()
}

fn plays(s: &[Step]) -> Vec<String> {
    s.iter()
        .filter_map(|x| match x {
            Step::Play { prompts, .. } => Some(
                prompts
                    .iter()
                    .map(|p| p.1.clone())
                    .collect::<Vec<_>>()
                    .join("+"),
            ),
            _ => None,
        })
        .collect()
}

const T: i64 = 1_767_571_200_000; // a Monday, 09:00 JST

#[test]
fn the_demo_menu_routes_by_key() {
    let mut r = started(demo(), "+819012345678", "+81312345678", T);
    let s = steps(&mut r);
    assert_eq!(plays(&s), vec!["welcome+recording_notice"]);
    r.handle(Input::PromptDone, T + 8000);
    let s = steps(&mut r);
    assert_eq!(plays(&s), vec!["menu"], "open hours: the menu");
    assert!(s
        .iter()
        .any(|x| matches!(x, Step::Log { node, event, .. } if node == "hours" && event == "open")));
    // Key 2 during the menu prompt cuts it and queues for support.
    r.handle(Input::Digit('2'), T + 9000);
    let s = steps(&mut r);
    assert_eq!(s[0], Step::StopPlay);
    assert!(s
        .iter()
        .any(|x| matches!(x, Step::Enqueue { queue, callback: true, .. } if queue == "support")));
    // Waiting in the queue, key 1 asks for a callback.
    r.handle(Input::Digit('1'), T + 30_000);
    let s = steps(&mut r);
    assert!(s.contains(&Step::Callback {
        queue: Some("support".into())
    }));
    assert_eq!(plays(&s), vec!["callback_ok"]);
    r.handle(Input::PromptDone, T + 35_000);
    assert_eq!(steps(&mut r), vec![Step::Hangup]);
    assert!(r.is_ended());
}

/// Regression: a caller with a withheld number (非通知) was offered a callback and could
/// book one no agent could ever place. No offer in the queue, and a callback node says why.
#[test]
fn a_withheld_number_is_not_offered_a_callback() {
    let mut r = started(demo(), "anonymous", "+81312345678", T);
    steps(&mut r);
    r.handle(Input::PromptDone, T + 8000);
    steps(&mut r);
    r.handle(Input::Digit('2'), T + 9000);
    let s = steps(&mut r);
    assert!(s
        .iter()
        .any(|x| matches!(x, Step::Enqueue { queue, callback: false, .. } if queue == "support")));
    r.handle(Input::Digit('1'), T + 30_000);
    let s = steps(&mut r);
    assert!(
        !s.iter().any(|x| matches!(x, Step::Callback { .. })),
        "{s:?}"
    );
    assert!(!r.is_ended(), "the caller keeps waiting");

    let flow = Arc::new(
        load(
            "cb.toml",
            "name = \"cb\"\nstart = \"cb\"\nlanguage = \"ja\"\n[nodes.cb]\ntype = \"callback\"\nqueue = \"support\"\n",
            &checks(),
        )
        .unwrap(),
    );
    for (caller, booked) in [
        ("anonymous", false),
        ("", false),
        ("+819012345678", true),
        ("0312345678", true),
    ] {
        let mut r = started(flow.clone(), caller, "100", T);
        let s = steps(&mut r);
        let callback = s.iter().any(|x| matches!(x, Step::Callback { .. }));
        assert_eq!(callback, booked, "{caller}: {s:?}");
        let expected = if booked {
            "callback_ok"
        } else {
            "callback_no_number"
        };
        assert_eq!(plays(&s), vec![expected], "{caller}");
        assert!(prompt_exists("ja", expected) && prompt_exists("en", expected));
    }
}

#[test]
fn wrong_keys_and_silence_retry_then_fail_over() {
    let mut r = started(demo(), "c", "d", T);
    r.handle(Input::PromptDone, T + 1);
    steps(&mut r);
    r.handle(Input::PromptDone, T + 2); // menu played: wait for a key
    assert_eq!(r.poll_timeout(), Some(T + 2 + 5000));
    r.handle(Input::Digit('7'), T + 3);
    assert_eq!(plays(&steps(&mut r)), vec!["invalid+menu"]);
    r.handle(Input::PromptDone, T + 4);
    r.handle_timeout(T + 4 + 5000);
    assert_eq!(plays(&steps(&mut r)), vec!["no_input+menu"]);
    r.handle(Input::PromptDone, T + 10_000);
    r.handle_timeout(T + 20_000);
    let s = steps(&mut r);
    assert!(
        s.iter()
            .any(|x| matches!(x, Step::Enqueue { queue, .. } if queue == "support")),
        "on_failure: support"
    );
}

#[test]
fn collect_reads_digits_until_the_terminator() {
    let mut r = started(demo(), "c", "d", T);
    r.handle(Input::PromptDone, T);
    r.handle(Input::Digit('1'), T); // orders → order number
    steps(&mut r);
    // Regression: the A–D keys (INFO Signal=12–15) and `*` were collected as digits.
    for d in ['4', 'A', '2', '*', '0', 'D', '#'] {
        r.handle(Input::Digit(d), T + 1);
    }
    let s = steps(&mut r);
    assert_eq!(
        r.attributes().get("order_no").map(String::as_str),
        Some("420")
    );
    assert!(s
        .iter()
        .any(|x| matches!(x, Step::Enqueue { queue, .. } if queue == "orders")));
    // Max wait in the queue: voicemail, then a beep, then the recording.
    r.handle(Input::MaxWait, T + 300_000);
    assert_eq!(plays(&steps(&mut r)), vec!["voicemail"]);
    r.handle(Input::PromptDone, T + 305_000);
    assert_eq!(plays(&steps(&mut r)), vec!["beep"]);
    r.handle(Input::PromptDone, T + 305_500);
    assert_eq!(
        steps(&mut r),
        vec![Step::RecordVoicemail {
            queue: "support".into(),
            max_secs: 120
        }]
    );
    r.handle(Input::VoicemailDone, T + 320_000);
    assert_eq!(plays(&steps(&mut r)), vec!["voicemail_ok"]);
}

#[test]
fn keys_typed_ahead_during_a_greeting_reach_the_menu() {
    let mut r = started(demo(), "c", "d", T);
    r.handle(Input::Digit('3'), T + 100); // during the greeting
    r.handle(Input::PromptDone, T + 8000);
    let s = steps(&mut r);
    assert!(
        s.iter()
            .any(|x| matches!(x, Step::Enqueue { queue, .. } if queue == "billing")),
        "{s:?}"
    );
}

#[test]
fn hours_lookups_languages_and_loops() {
    let text = r#"name = "t"
start = "hours"
[calendars.office]
time_zone = "Asia/Tokyo"
hours = { mon = ["09:00-12:00", "13:00-18:00"] }
holidays = ["2026-01-12"]
[nodes.hours]
type = "hours"
calendar = "office"
open = "lookup"
closed = "closed"
[nodes.closed]
type = "hangup"
prompt = "closed"
[nodes.lookup]
type = "http"
url = "http://crm.example/customers?tel=${caller}"
save = { rank = "/member/rank" }
next = "by_rank"
on_error = "en"
[nodes.by_rank]
type = "branch"
attribute = "rank"
cases = { gold = "loop" }
default = "en"
[nodes.en]
type = "language"
language = "en"
next = "bye"
[nodes.bye]
type = "hangup"
prompt = "goodbye"
[nodes.loop]
type = "set"
attributes = { vip = "yes" }
next = "loop"
"#;
    let f = Arc::new(load("t.toml", text, &checks()).unwrap());
    let closed_at_lunch = T + 3 * 3600 * 1000 + 30 * 60 * 1000; // 12:30 JST
    let mut r = started(f.clone(), "+8190", "d", closed_at_lunch);
    assert_eq!(plays(&steps(&mut r)), vec!["closed"]);
    // The next Monday is a holiday.
    let mut r = started(f.clone(), "+8190", "d", T + 7 * 86_400_000);
    assert_eq!(plays(&steps(&mut r)), vec!["closed"]);

    let mut r = started(f.clone(), "+8190", "d", T);
    let s = steps(&mut r);
    assert!(s.contains(&Step::Http {
        url: "http://crm.example/customers?tel=+8190".into(),
        method: "GET".into(),
        body: None,
        timeout_ms: 2000
    }));
    r.handle(
        Input::HttpResult(Ok(json!({ "member": { "rank": "silver" } }))),
        T + 100,
    );
    let s = steps(&mut r);
    assert_eq!(plays(&s), vec!["goodbye"]);
    assert!(
        matches!(&s.iter().find(|x| matches!(x, Step::Play { .. })), Some(Step::Play { prompts, .. }) if prompts[0].0 == "en")
    );
    assert_eq!(
        r.attributes().get("rank").map(String::as_str),
        Some("silver")
    );

    // A lookup that fails goes to on_error; a loop without input ends the call.
    let mut r = started(f.clone(), "+8190", "d", T);
    r.handle(
        Input::HttpResult(Ok(json!({ "member": { "rank": "gold" } }))),
        T + 100,
    );
    let s = steps(&mut r);
    assert_eq!(s.last(), Some(&Step::Hangup), "an endless loop is cut off");
    let mut r = started(f, "+8190", "d", T);
    r.handle(Input::HttpResult(Err(LookupError::Timeout)), T + 2000);
    assert_eq!(plays(&steps(&mut r)), vec!["goodbye"]);
}
