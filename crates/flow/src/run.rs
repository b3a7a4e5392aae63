//! The flow interpreter: one [`Run`] per call, a state machine. It never plays, waits or
//! fetches anything itself; it asks for it with [`Step`]s and is told what happened with
//! [`Input`]s and [`Run::handle_timeout`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::load::Flow;
use crate::model::*;

/// Why an `http` node's lookup to an external system gave no answer; the flow goes on
/// with its fallback either way, and the reason is logged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("timeout")]
    Timeout,
    #[error("HTTP {0}")]
    Status(u16),
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("{0}")]
    Request(String),
}

/// What happened in the call.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The prompts asked for by the last `Play` have finished (or were stopped).
    PromptDone,
    Digit(char),
    /// The answer of the last `Http` step: JSON, or why it failed (timeout, status, …).
    HttpResult(Result<Value, LookupError>),
    /// The queue's maximum wait passed and it has nowhere to overflow to.
    MaxWait,
    /// The voicemail recording finished.
    VoicemailDone,
    /// The number of the last `Transfer` answered: the flow is over.
    TransferAnswered,
    /// The number of the last `Transfer` did not answer (why: busy, no answer, …).
    TransferFailed(String),
}

/// What the call should do.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Play these prompts (language, name) in order, then report `PromptDone`.
    /// `interruptible`: a key press stops them (and is reported).
    Play {
        prompts: Vec<(String, String)>,
        interruptible: bool,
    },
    /// Stop what is playing (a key cut a prompt short). No `PromptDone` follows.
    StopPlay,
    Enqueue {
        queue: String,
        priority: i64,
        requirements: Vec<SkillStep>,
        moh: String,
        announce_secs: u32,
        callback: bool,
    },
    Http {
        url: String,
        method: String,
        body: Option<String>,
        timeout_ms: u64,
    },
    /// Turn the call into a callback request in `queue` (or the queue it waits in).
    Callback {
        queue: Option<String>,
    },
    RecordVoicemail {
        queue: String,
        max_secs: u32,
    },
    /// Dial `number` through the trunk and connect the caller to it; report
    /// `TransferAnswered` or `TransferFailed`.
    Transfer {
        number: String,
    },
    Hangup,
    /// For the contact's timeline (the IVR path).
    Log {
        node: String,
        event: String,
        detail: Value,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum After {
    Goto(String),
    WaitKey,
    Hangup,
    Beep { queue: String, max_secs: u32 },
    Record { queue: String, max_secs: u32 },
    Transfer { number: String },
}

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Idle,
    Playing { after: After, interruptible: bool },
    WaitingKey,
    Http,
    Queued { queue: String, callback: bool },
    Voicemail,
    Transferring,
    Ended,
}

/// Loops without any input from the caller end the call after this many node visits.
const MAX_HOPS: u32 = 200;

pub struct Run {
    flow: Arc<Flow>,
    node: String,
    phase: Phase,
    language: String,
    attributes: BTreeMap<String, String>,
    caller: String,
    called: String,
    attempts: u32,
    digits: String,
    typeahead: String,
    deadline: Option<i64>,
    steps: VecDeque<Step>,
    hops: u32,
    now: i64,
}

impl Run {
    pub fn new(flow: Arc<Flow>, caller: &str, called: &str) -> Run {
        Run {
            language: flow.language.clone(),
            node: flow.start.clone(),
            flow,
            phase: Phase::Idle,
            attributes: BTreeMap::new(),
            caller: caller.into(),
            called: called.into(),
            attempts: 0,
            digits: String::new(),
            typeahead: String::new(),
            deadline: None,
            steps: VecDeque::new(),
            hops: 0,
            now: 0,
        }
    }

    /// Whether the caller presented a number we could dial back (digits, perhaps with a
    /// leading `+`); a withheld number (`anonymous`, 非通知) is not one.
    fn can_call_back(&self) -> bool {
        let digits = self.caller.strip_prefix('+').unwrap_or(&self.caller);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    }

    pub fn start(&mut self, now: i64) {
        self.now = now;
        let start = self.flow.start.clone();
        self.enter(&start);
    }

    #[must_use]
    pub fn poll_step(&mut self) -> Option<Step> {
        self.steps.pop_front()
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<i64> {
        self.deadline
    }

    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.attributes
    }

    pub fn language(&self) -> &str {
        &self.language
    }

    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    pub fn handle_timeout(&mut self, now: i64) {
        self.now = now;
        if self.deadline.is_some_and(|d| d <= now) {
            self.deadline = None;
            if self.phase == Phase::WaitingKey {
                self.no_input();
            }
        }
    }

    pub fn handle(&mut self, input: Input, now: i64) {
        self.now = now;
        match (input, self.phase.clone()) {
            (Input::PromptDone, Phase::Playing { after, .. }) => self.after_play(after),
            (
                Input::Digit(d),
                Phase::Playing {
                    interruptible: true,
                    ..
                },
            ) => {
                self.steps.push_back(Step::StopPlay);
                self.phase = Phase::WaitingKey;
                self.key(d);
            }
            (
                Input::Digit(d),
                Phase::Playing {
                    interruptible: false,
                    ..
                },
            ) => self.typeahead.push(d),
            (Input::Digit(d), Phase::WaitingKey) => self.key(d),
            (
                Input::Digit('1'),
                Phase::Queued {
                    queue,
                    callback: true,
                },
            ) => {
                self.log("callback_requested", json!({ "queue": queue }));
                self.steps.push_back(Step::Callback { queue: Some(queue) });
                self.play(vec!["callback_ok".into()], false, After::Hangup);
            }
            (Input::HttpResult(r), Phase::Http) => self.http_result(r),
            (Input::MaxWait, Phase::Queued { .. }) => {
                self.log("max_wait", Value::Null);
                let target = match self.current() {
                    Some(Node::Queue(q)) => q.on_max_wait.clone(),
                    _ => None,
                };
                match target {
                    Some(t) => self.enter(&t),
                    None => self.hangup(),
                }
            }
            (Input::TransferAnswered, Phase::Transferring) => {
                self.log("transfer_answered", Value::Null);
                self.deadline = None;
                self.phase = Phase::Ended;
            }
            (Input::TransferFailed(why), Phase::Transferring) => {
                self.log("transfer_failed", json!({ "reason": why }));
                let target = match self.current() {
                    Some(Node::Transfer(t)) => t.on_failure.clone(),
                    _ => None,
                };
                match target {
                    Some(t) => self.enter(&t),
                    None => self.hangup(),
                }
            }
            (Input::VoicemailDone, Phase::Voicemail) => {
                let done = match self.current() {
                    Some(Node::Voicemail(v)) => v.done_prompt.clone().map(|p| p.names()),
                    _ => None,
                };
                self.play(
                    done.unwrap_or_else(|| vec!["voicemail_ok".into()]),
                    false,
                    After::Hangup,
                );
            }
            _ => {} // not expected now: ignore (e.g. a key while a lookup runs)
        }
    }

    // ----- internals -------------------------------------------------------------------

    fn current(&self) -> Option<&Node> {
        self.flow.nodes.get(&self.node)
    }

    fn log(&mut self, event: &str, detail: Value) {
        self.steps.push_back(Step::Log {
            node: self.node.clone(),
            event: event.into(),
            detail,
        });
    }

    fn play(&mut self, names: Vec<String>, interruptible: bool, after: After) {
        let prompts = names
            .into_iter()
            .map(|n| (self.language.clone(), n))
            .collect();
        self.steps.push_back(Step::Play {
            prompts,
            interruptible,
        });
        self.phase = Phase::Playing {
            after,
            interruptible,
        };
    }

    fn transfer(&mut self, number: String) {
        self.log("transfer", json!({ "to": number }));
        self.phase = Phase::Transferring;
        self.steps.push_back(Step::Transfer { number });
    }

    fn hangup(&mut self) {
        self.deadline = None;
        self.phase = Phase::Ended;
        self.steps.push_back(Step::Hangup);
    }

    fn after_play(&mut self, after: After) {
        match after {
            After::Goto(n) => self.enter(&n),
            After::WaitKey => {
                self.phase = Phase::WaitingKey;
                if let Some(d) = self.typeahead.chars().next() {
                    self.typeahead.remove(0);
                    self.key(d);
                } else {
                    self.arm_timeout();
                }
            }
            After::Hangup => self.hangup(),
            After::Transfer { number } => self.transfer(number),
            After::Beep { queue, max_secs } => self.play(
                vec!["beep".into()],
                false,
                After::Record { queue, max_secs },
            ),
            After::Record { queue, max_secs } => {
                self.phase = Phase::Voicemail;
                self.steps
                    .push_back(Step::RecordVoicemail { queue, max_secs });
            }
        }
    }

    fn arm_timeout(&mut self) {
        let secs = match self.current() {
            Some(Node::Menu(m)) => m.timeout_secs,
            Some(Node::Collect(c)) => c.timeout_secs,
            _ => 5,
        };
        self.deadline = Some(self.now + i64::from(secs) * 1000);
    }

    fn template(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            match after.find('}') {
                Some(j) => {
                    let key = &after[..j];
                    let value = match key {
                        "caller" => self.caller.clone(),
                        "called" => self.called.clone(),
                        "language" => self.language.clone(),
                        k => self.attributes.get(k).cloned().unwrap_or_default(),
                    };
                    out.push_str(&value);
                    rest = &after[j + 1..];
                }
                None => {
                    out.push_str(&rest[i..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn enter(&mut self, name: &str) {
        self.deadline = None;
        self.hops += 1;
        if self.hops > MAX_HOPS {
            self.log("loop", json!({ "hops": self.hops }));
            self.hangup();
            return;
        }
        self.node = name.to_string();
        self.attempts = 0;
        self.digits.clear();
        let Some(node) = self.current().cloned() else {
            self.hangup();
            return;
        };
        self.log("enter", json!({ "type": node.kind() }));
        match node {
            Node::Play(p) => self.play(p.prompt.names(), false, After::Goto(p.next)),
            Node::Menu(m) => {
                if let Some(d) = self.typeahead.chars().next() {
                    self.typeahead.remove(0);
                    self.phase = Phase::WaitingKey;
                    self.key(d);
                } else {
                    self.play(m.prompt.names(), true, After::WaitKey);
                }
            }
            Node::Collect(c) => self.play(c.prompt.names(), true, After::WaitKey),
            Node::Hours(h) => {
                let open = self
                    .flow
                    .calendars
                    .get(&h.calendar)
                    .is_some_and(|c| c.is_open(self.now));
                self.log(if open { "open" } else { "closed" }, Value::Null);
                self.enter(if open { &h.open } else { &h.closed });
            }
            Node::Set(s) => {
                for (k, v) in &s.attributes {
                    let v = self.template(v);
                    self.attributes.insert(k.clone(), v);
                }
                self.enter(&s.next);
            }
            Node::Http(h) => {
                let url = self.template(&h.url);
                let body = h.body.as_ref().map(|b| self.template(b));
                self.phase = Phase::Http;
                self.steps.push_back(Step::Http {
                    url,
                    method: h.method.clone(),
                    body,
                    timeout_ms: h.timeout_ms,
                });
            }
            Node::Branch(b) => {
                let value = self
                    .attributes
                    .get(&b.attribute)
                    .cloned()
                    .unwrap_or_default();
                let target = b
                    .cases
                    .get(&value)
                    .cloned()
                    .unwrap_or_else(|| b.default.clone());
                self.enter(&target);
            }
            Node::Language(l) => {
                self.language = l.language.clone();
                self.enter(&l.next);
            }
            Node::Queue(q) => {
                // No callback offer to a caller we could not call back.
                let callback = q.callback && self.can_call_back();
                self.phase = Phase::Queued {
                    queue: q.queue.clone(),
                    callback,
                };
                self.steps.push_back(Step::Enqueue {
                    queue: q.queue.clone(),
                    priority: q.priority,
                    requirements: q.requirements.clone(),
                    moh: q.moh.clone().unwrap_or_else(|| "moh".into()),
                    announce_secs: q.announce_secs,
                    callback,
                });
            }
            Node::Callback(_) if !self.can_call_back() => {
                // A withheld number cannot be called back: say so rather than book a
                // callback no agent could ever place.
                self.log("callback_refused", json!({ "reason": "no_number" }));
                self.play(vec!["callback_no_number".into()], false, After::Hangup);
            }
            Node::Callback(c) => {
                self.steps.push_back(Step::Callback {
                    queue: c.queue.clone(),
                });
                let prompt = c
                    .prompt
                    .map(|p| p.names())
                    .unwrap_or_else(|| vec!["callback_ok".into()]);
                self.play(prompt, false, After::Hangup);
            }
            Node::Voicemail(v) => self.play(
                v.prompt.names(),
                false,
                After::Beep {
                    queue: v.queue.clone(),
                    max_secs: v.max_secs,
                },
            ),
            Node::Transfer(t) => match t.prompt {
                Some(p) => self.play(
                    p.names(),
                    false,
                    After::Transfer {
                        number: t.number.clone(),
                    },
                ),
                None => self.transfer(t.number.clone()),
            },
            Node::Hangup(h) => match h.prompt {
                Some(p) => self.play(p.names(), false, After::Hangup),
                None => self.hangup(),
            },
        }
    }

    fn key(&mut self, d: char) {
        self.deadline = None;
        match self.current().cloned() {
            Some(Node::Menu(m)) => {
                let k = d.to_string();
                self.log("key", json!({ "key": k }));
                match m.options.get(&k) {
                    Some(target) => self.enter(target),
                    None => self.retry(
                        m.invalid_prompt.clone(),
                        m.prompt.clone(),
                        m.retries,
                        m.on_failure.clone(),
                    ),
                }
            }
            Some(Node::Collect(c)) => {
                let is_terminator = !c.terminator.is_empty() && c.terminator.starts_with(d);
                if !is_terminator && !d.is_ascii_digit() {
                    // Collected digits are digits: `*` or the A–D keys (RFC 4733 events
                    // 12–15, which some phones send) are not part of an order number.
                    self.log("key_ignored", json!({ "key": d.to_string() }));
                    self.arm_timeout();
                    return;
                }
                if !is_terminator {
                    self.digits.push(d);
                }
                if is_terminator || self.digits.len() as u32 >= c.max_digits {
                    self.finish_collect(&c);
                } else {
                    self.arm_timeout();
                }
            }
            _ => {}
        }
    }

    fn no_input(&mut self) {
        match self.current().cloned() {
            Some(Node::Menu(m)) => {
                self.log("no_input", Value::Null);
                self.retry(
                    m.no_input_prompt.clone(),
                    m.prompt.clone(),
                    m.retries,
                    m.on_failure.clone(),
                );
            }
            Some(Node::Collect(c)) => {
                if self.digits.is_empty() {
                    self.log("no_input", Value::Null);
                    self.retry(None, c.prompt.clone(), c.retries, c.on_failure.clone());
                } else {
                    self.finish_collect(&c);
                }
            }
            _ => {}
        }
    }

    fn finish_collect(&mut self, c: &Collect) {
        if (self.digits.len() as u32) < c.min_digits {
            self.log("invalid", json!({ "length": self.digits.len() }));
            self.digits.clear();
            self.retry(
                c.invalid_prompt.clone(),
                c.prompt.clone(),
                c.retries,
                c.on_failure.clone(),
            );
            return;
        }
        let digits = std::mem::take(&mut self.digits);
        self.log(
            "collected",
            json!({ "attribute": c.attribute, "length": digits.len() }),
        );
        self.attributes.insert(c.attribute.clone(), digits);
        self.enter(&c.next);
    }

    fn retry(
        &mut self,
        apology: Option<Prompts>,
        prompt: Prompts,
        retries: u32,
        on_failure: Option<String>,
    ) {
        self.attempts += 1;
        if self.attempts > retries {
            self.log("failed", json!({ "attempts": self.attempts }));
            match on_failure {
                Some(t) => self.enter(&t),
                None => self.hangup(),
            }
            return;
        }
        let mut names = apology.map(|p| p.names()).unwrap_or_default();
        names.extend(prompt.names());
        self.play(names, true, After::WaitKey);
    }

    fn http_result(&mut self, r: Result<Value, LookupError>) {
        let Some(Node::Http(h)) = self.current().cloned() else {
            return;
        };
        match r {
            Ok(v) => {
                let mut saved = 0;
                for (attr, pointer) in &h.save {
                    if let Some(x) = v.pointer(pointer) {
                        let s = match x {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        self.attributes.insert(attr.clone(), s);
                        saved += 1;
                    }
                }
                self.log("http_ok", json!({ "saved": saved }));
                self.enter(&h.next);
            }
            Err(e) => {
                self.log("http_error", json!({ "error": e.to_string() }));
                self.enter(&h.on_error);
            }
        }
    }
}
