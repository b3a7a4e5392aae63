//! The call-flow file format (TOML).
//!
//! ```toml
//! name = "main"
//! start = "welcome"
//! language = "ja"                       # prompts: <prompts>/<language>/<name>.wav
//!
//! [calendars.office]
//! time_zone = "Asia/Tokyo"
//! hours = { mon = "09:00-18:00", tue = "09:00-18:00", sat = ["10:00-12:00", "13:00-15:00"] }
//! holidays = ["2026-01-01"]
//!
//! [nodes.welcome]
//! type = "play"
//! prompt = "welcome"
//! next = "hours"
//!
//! [nodes.hours]
//! type = "hours"
//! calendar = "office"
//! open = "menu"
//! closed = "closed"
//!
//! [nodes.menu]
//! type = "menu"
//! prompt = "menu"
//! options = { "1" = "orders", "2" = "support" }
//! timeout_secs = 5
//! retries = 2
//! on_failure = "support"
//!
//! [nodes.orders]
//! type = "queue"
//! queue = "orders"
//! ```
//!
//! Node types: `play`, `menu`, `collect`, `hours`, `set`, `http`, `branch`, `language`,
//! `queue`, `callback`, `voicemail`, `transfer`, `hangup`. See each struct for its fields.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// One prompt name or several played in order.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Prompts {
    One(String),
    Many(Vec<String>),
}

impl Prompts {
    pub fn names(&self) -> Vec<String> {
        match self {
            Prompts::One(s) => vec![s.clone()],
            Prompts::Many(v) => v.clone(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowFile {
    pub name: String,
    pub start: String,
    #[serde(default = "default_language")]
    pub language: String,
    #[serde(default)]
    pub calendars: BTreeMap<String, Calendar>,
    pub nodes: BTreeMap<String, Spanned<Node>>,
}

fn default_language() -> String {
    "ja".into()
}

/// Opening hours per weekday (`mon` … `sun`), each `"HH:MM-HH:MM"` or a list of them, and
/// holidays (closed all day).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    pub time_zone: String,
    #[serde(default)]
    pub hours: BTreeMap<String, Prompts>,
    #[serde(default)]
    pub holidays: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Node {
    Play(Play),
    Menu(Menu),
    Collect(Collect),
    Hours(Hours),
    Set(SetAttributes),
    Http(Http),
    Branch(Branch),
    Language(Language),
    Queue(QueueNode),
    Callback(Callback),
    Voicemail(Voicemail),
    Transfer(Transfer),
    Hangup(Hangup),
}

/// Plays prompts, then goes on.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Play {
    pub prompt: Prompts,
    pub next: String,
}

/// Plays a menu and waits for one key (a key pressed during the prompt cuts it short).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    pub prompt: Prompts,
    /// Key ("0"-"9", "*", "#") → node.
    pub options: BTreeMap<String, String>,
    #[serde(default = "five")]
    pub timeout_secs: u32,
    /// How many times the menu is repeated after no or a wrong key.
    #[serde(default = "two")]
    pub retries: u32,
    #[serde(default)]
    pub invalid_prompt: Option<Prompts>,
    #[serde(default)]
    pub no_input_prompt: Option<Prompts>,
    /// Where to go when the retries are used up (default: hang up).
    #[serde(default)]
    pub on_failure: Option<String>,
}

/// Collects digits (an order or member number) into an attribute.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collect {
    pub prompt: Prompts,
    pub attribute: String,
    #[serde(default = "one")]
    pub min_digits: u32,
    #[serde(default = "twenty")]
    pub max_digits: u32,
    /// The key that ends input early (default "#"; "" for none).
    #[serde(default = "hash")]
    pub terminator: String,
    #[serde(default = "five")]
    pub timeout_secs: u32,
    #[serde(default = "two")]
    pub retries: u32,
    #[serde(default)]
    pub invalid_prompt: Option<Prompts>,
    pub next: String,
    #[serde(default)]
    pub on_failure: Option<String>,
}

/// Branches on a calendar: open or closed now (holidays are closed).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    pub calendar: String,
    pub open: String,
    pub closed: String,
}

/// Sets contact attributes (values may use `${caller}`, `${called}` and `${attribute}`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAttributes {
    pub attributes: BTreeMap<String, String>,
    pub next: String,
}

/// Looks something up in another system (API連携IVR): the JSON answer's values go into
/// attributes; on error or timeout the flow continues at `on_error`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// May use `${…}` like `set`.
    pub url: String,
    #[serde(default = "get")]
    pub method: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default = "two_thousand")]
    pub timeout_ms: u64,
    /// Attribute → JSON pointer into the answer, e.g. `{ member_rank = "/rank" }`.
    #[serde(default)]
    pub save: BTreeMap<String, String>,
    pub next: String,
    pub on_error: String,
}

/// Chooses the next node by an attribute's value.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    pub attribute: String,
    pub cases: BTreeMap<String, String>,
    pub default: String,
}

/// Switches the prompt language (e.g. an English branch).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Language {
    pub language: String,
    pub next: String,
}

/// A required skill: `steps` are `[after_secs, min_level]`, e.g. `[[0, 4], [30, 2], [60, 0]]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SkillStep {
    pub skill: String,
    pub steps: Vec<(i64, u8)>,
}

/// Puts the caller in a queue: music on hold, periodic position and wait announcements,
/// optionally a callback offer ("press 1"). The ACD rings an agent.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueNode {
    pub queue: String,
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub requirements: Vec<SkillStep>,
    /// Prompt looped while waiting (default "moh").
    #[serde(default)]
    pub moh: Option<String>,
    /// Seconds between announcements (0: none).
    #[serde(default = "forty_five")]
    pub announce_secs: u32,
    /// Offer a callback with key 1 in the announcements.
    #[serde(default)]
    pub callback: bool,
    /// Where to continue when the queue's max wait passes without an overflow queue
    /// (e.g. a voicemail node). Default: hang up.
    #[serde(default)]
    pub on_max_wait: Option<String>,
}

/// Leaves a callback request: the contact keeps its place in the queue, the caller hangs
/// up, and an agent who takes it is connected to the caller's number.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Callback {
    /// Default: the queue the caller waited in (or must be given if none).
    #[serde(default)]
    pub queue: Option<String>,
    #[serde(default)]
    pub prompt: Option<Prompts>,
}

/// Records a message (after a beep) and leaves it as a task in a queue.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Voicemail {
    pub prompt: Prompts,
    pub queue: String,
    #[serde(default = "one_twenty")]
    pub max_secs: u32,
    #[serde(default)]
    pub done_prompt: Option<Prompts>,
}

/// Forwards the caller to an external number through the tenant's trunk (外線転送: e.g. an
/// on-call phone after hours, a partner's line). The caller hears music while it rings;
/// when it answers the two talk and the flow is over. If it does not answer (busy,
/// unreachable, no answer within the switch's ring timeout) the flow goes on at
/// `on_failure`, or the call ends.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    pub number: String,
    /// Played before dialing (e.g. "connecting you").
    #[serde(default)]
    pub prompt: Option<Prompts>,
    #[serde(default)]
    pub on_failure: Option<String>,
}

/// Ends the call, optionally after a prompt.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hangup {
    #[serde(default)]
    pub prompt: Option<Prompts>,
}

fn one() -> u32 {
    1
}
fn two() -> u32 {
    2
}
fn five() -> u32 {
    5
}
fn twenty() -> u32 {
    20
}
fn forty_five() -> u32 {
    45
}
fn one_twenty() -> u32 {
    120
}
fn two_thousand() -> u64 {
    2000
}
fn hash() -> String {
    "#".into()
}
fn get() -> String {
    "GET".into()
}

impl Node {
    /// Every node this one may go to, with a label for error messages.
    pub fn targets(&self) -> Vec<(String, &str)> {
        let mut t: Vec<(String, &str)> = Vec::new();
        match self {
            Node::Play(n) => t.push(("next".into(), &n.next)),
            Node::Menu(n) => {
                for (k, v) in &n.options {
                    t.push((format!("option \"{k}\""), v));
                }
                if let Some(f) = &n.on_failure {
                    t.push(("on_failure".into(), f));
                }
            }
            Node::Collect(n) => {
                t.push(("next".into(), &n.next));
                if let Some(f) = &n.on_failure {
                    t.push(("on_failure".into(), f));
                }
            }
            Node::Hours(n) => {
                t.push(("open".into(), &n.open));
                t.push(("closed".into(), &n.closed));
            }
            Node::Set(n) => t.push(("next".into(), &n.next)),
            Node::Http(n) => {
                t.push(("next".into(), &n.next));
                t.push(("on_error".into(), &n.on_error));
            }
            Node::Branch(n) => {
                for (k, v) in &n.cases {
                    t.push((format!("case \"{k}\""), v));
                }
                t.push(("default".into(), &n.default));
            }
            Node::Language(n) => t.push(("next".into(), &n.next)),
            Node::Queue(n) => {
                if let Some(m) = &n.on_max_wait {
                    t.push(("on_max_wait".into(), m));
                }
            }
            Node::Transfer(n) => {
                if let Some(f) = &n.on_failure {
                    t.push(("on_failure".into(), f));
                }
            }
            Node::Callback(_) | Node::Voicemail(_) | Node::Hangup(_) => {}
        }
        t
    }

    /// Every prompt this node may play.
    pub fn prompts(&self) -> Vec<String> {
        let mut p = Vec::new();
        let mut add = |x: &Option<Prompts>| {
            if let Some(x) = x {
                p.extend(x.names());
            }
        };
        match self {
            Node::Play(n) => add(&Some(n.prompt.clone())),
            Node::Menu(n) => {
                add(&Some(n.prompt.clone()));
                add(&n.invalid_prompt);
                add(&n.no_input_prompt);
            }
            Node::Collect(n) => {
                add(&Some(n.prompt.clone()));
                add(&n.invalid_prompt);
            }
            Node::Queue(n) => add(&n.moh.clone().map(Prompts::One)),
            Node::Callback(n) => add(&n.prompt),
            Node::Voicemail(n) => {
                add(&Some(n.prompt.clone()));
                add(&n.done_prompt);
            }
            Node::Hangup(n) => add(&n.prompt),
            Node::Transfer(n) => add(&n.prompt),
            _ => {}
        }
        p
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Node::Play(_) => "play",
            Node::Menu(_) => "menu",
            Node::Collect(_) => "collect",
            Node::Hours(_) => "hours",
            Node::Set(_) => "set",
            Node::Http(_) => "http",
            Node::Branch(_) => "branch",
            Node::Language(_) => "language",
            Node::Queue(_) => "queue",
            Node::Callback(_) => "callback",
            Node::Voicemail(_) => "voicemail",
            Node::Transfer(_) => "transfer",
            Node::Hangup(_) => "hangup",
        }
    }
}
