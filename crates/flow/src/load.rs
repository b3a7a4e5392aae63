//! Loading a flow file: parse, then check everything that can be checked before a call
//! arrives. Every problem is reported with the file, line and column it concerns.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use crate::calendar::{parse_range, CompiledCalendar, DAYS};
use crate::model::*;

/// A checked flow, ready to run.
#[derive(Clone, Debug)]
pub struct Flow {
    pub name: String,
    pub start: String,
    pub language: String,
    pub calendars: BTreeMap<String, CompiledCalendar>,
    pub nodes: BTreeMap<String, Node>,
    /// Non-fatal findings (unreachable nodes).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    /// `file:line:column`
    pub location: String,
    pub message: String,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowErrors(pub Vec<FlowError>);

impl fmt::Display for FlowErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FlowErrors {}

/// A number the tenant's phone-number rule refuses, with the rule's reason (the checker
/// is the caller's: the server passes the domain's rule).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NumberRefused(pub String);

/// What the surroundings know: which prompts, queues and skills exist, and what may be
/// dialed.
pub struct Checks<'a> {
    pub prompt_exists: &'a dyn Fn(&str, &str) -> bool,
    pub queue_exists: &'a dyn Fn(&str) -> bool,
    pub skill_exists: &'a dyn Fn(&str) -> bool,
    /// Whether a `transfer` node's number can be dialed; the error completes "number `…` "
    /// (e.g. "must not contain `a`: …"). The caller applies the same rule as to every other
    /// number that enters the system, so a flow cannot dial what the API would refuse.
    pub number_ok: &'a dyn Fn(&str) -> Result<(), NumberRefused>,
}

impl Checks<'_> {
    /// Accepts everything (for syntax checks only).
    pub fn none() -> Checks<'static> {
        Checks {
            prompt_exists: &|_, _| true,
            queue_exists: &|_| true,
            skill_exists: &|_| true,
            number_ok: &|_| Ok(()),
        }
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`, as config and
/// flow errors show them. Offsets past the end point just after the last character.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    (line, col)
}

fn is_attribute_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub fn load(file: &str, text: &str, checks: &Checks) -> Result<Flow, FlowErrors> {
    let at = |offset: usize| {
        let (l, c) = line_col(text, offset);
        format!("{file}:{l}:{c}")
    };
    let parsed: FlowFile = toml::from_str(text).map_err(|e| {
        let location = e.span().map_or_else(|| file.to_string(), |s| at(s.start));
        FlowErrors(vec![FlowError {
            location,
            message: e.message().to_string(),
        }])
    })?;
    let mut errors: Vec<FlowError> = Vec::new();
    let top = format!("{file}:1:1");
    let mut err = |location: String, message: String| errors.push(FlowError { location, message });

    if !parsed.nodes.contains_key(&parsed.start) {
        err(
            top.clone(),
            format!("start node `{}` does not exist", parsed.start),
        );
    }
    if parsed.name.trim().is_empty() {
        err(top.clone(), "name must not be empty".into());
    }

    let mut calendars = BTreeMap::new();
    for (name, cal) in &parsed.calendars {
        let tz = match jiff::tz::TimeZone::get(&cal.time_zone) {
            Ok(tz) => tz,
            Err(_) => {
                err(
                    top.clone(),
                    format!("calendar `{name}`: unknown time zone {:?}", cal.time_zone),
                );
                continue;
            }
        };
        let mut hours: [Vec<(u16, u16)>; 7] = Default::default();
        for (day, ranges) in &cal.hours {
            let Some(i) = DAYS.iter().position(|d| d == day) else {
                err(
                    top.clone(),
                    format!(
                        "calendar `{name}`: unknown day {day:?} (use {})",
                        DAYS.join(", ")
                    ),
                );
                continue;
            };
            for r in ranges.names() {
                match parse_range(&r) {
                    Ok(range) => hours[i].push(range),
                    Err(m) => err(top.clone(), format!("calendar `{name}`, {day}: {m}")),
                }
            }
        }
        let mut holidays = BTreeSet::new();
        for h in &cal.holidays {
            match h.parse::<jiff::civil::Date>() {
                Ok(d) => {
                    holidays.insert(d);
                }
                Err(_) => err(
                    top.clone(),
                    format!("calendar `{name}`: holiday {h:?} is not a date like 2026-01-01"),
                ),
            }
        }
        calendars.insert(
            name.clone(),
            CompiledCalendar {
                tz,
                hours,
                holidays,
            },
        );
    }

    for (name, spanned) in &parsed.nodes {
        let node = spanned.get_ref();
        let loc = at(spanned.span().start);
        let mut bad = |m: String| err(loc.clone(), format!("node `{name}` ({}): {m}", node.kind()));
        for (label, target) in node.targets() {
            if !parsed.nodes.contains_key(target) {
                bad(format!("{label} goes to `{target}`, which is not a node"));
            }
        }
        match node {
            Node::Menu(m) => {
                if m.options.is_empty() {
                    bad("a menu needs at least one option".into());
                }
                for k in m.options.keys() {
                    if !(k.len() == 1
                        && k.chars()
                            .all(|c| c.is_ascii_digit() || c == '*' || c == '#'))
                    {
                        bad(format!("option {k:?} is not a single key (0-9, *, #)"));
                    }
                }
                if !(1..=60).contains(&m.timeout_secs) {
                    bad("timeout_secs must be between 1 and 60".into());
                }
                if m.retries > 10 {
                    bad("retries must be at most 10".into());
                }
            }
            Node::Collect(c) => {
                if !is_attribute_name(&c.attribute) {
                    bad(format!(
                        "attribute {:?} must be letters, digits and _",
                        c.attribute
                    ));
                }
                if c.min_digits == 0 || c.min_digits > c.max_digits || c.max_digits > 64 {
                    bad("need 1 <= min_digits <= max_digits <= 64".into());
                }
                if !(c.terminator.is_empty() || c.terminator == "#" || c.terminator == "*") {
                    bad("terminator must be \"#\", \"*\" or \"\"".into());
                }
                if !(1..=60).contains(&c.timeout_secs) {
                    bad("timeout_secs must be between 1 and 60".into());
                }
            }
            Node::Hours(h) => {
                if !parsed.calendars.contains_key(&h.calendar) {
                    bad(format!("calendar `{}` is not defined", h.calendar));
                }
            }
            Node::Set(s) => {
                for k in s.attributes.keys() {
                    if !is_attribute_name(k) {
                        bad(format!("attribute {k:?} must be letters, digits and _"));
                    }
                }
            }
            Node::Http(h) => {
                if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
                    bad("url must start with http:// or https://".into());
                }
                if !matches!(h.method.as_str(), "GET" | "POST") {
                    bad("method must be GET or POST".into());
                }
                if !(100..=30_000).contains(&h.timeout_ms) {
                    bad("timeout_ms must be between 100 and 30000".into());
                }
                for (k, p) in &h.save {
                    if !is_attribute_name(k) {
                        bad(format!("attribute {k:?} must be letters, digits and _"));
                    }
                    if !(p.is_empty() || p.starts_with('/')) {
                        bad(format!(
                            "{p:?} is not a JSON pointer (like \"/member/rank\")"
                        ));
                    }
                }
            }
            Node::Branch(b) => {
                if !is_attribute_name(&b.attribute) {
                    bad(format!(
                        "attribute {:?} must be letters, digits and _",
                        b.attribute
                    ));
                }
            }
            Node::Queue(q) => {
                if !(checks.queue_exists)(&q.queue) {
                    bad(format!("queue `{}` does not exist", q.queue));
                }
                for r in &q.requirements {
                    if !(checks.skill_exists)(&r.skill) {
                        bad(format!("skill `{}` does not exist", r.skill));
                    }
                    if r.steps.first().is_none_or(|s| s.0 != 0)
                        || r.steps
                            .windows(2)
                            .any(|w| w[1].0 <= w[0].0 || w[1].1 > w[0].1)
                        || r.steps.iter().any(|s| s.1 > 5)
                    {
                        bad(format!(
                            "skill `{}`: steps must start at 0 s, increase in time, and never require a higher level (max 5)",
                            r.skill
                        ));
                    }
                }
                if q.announce_secs != 0 && !(10..=600).contains(&q.announce_secs) {
                    bad("announce_secs must be 0 or between 10 and 600".into());
                }
            }
            Node::Callback(c) => {
                if let Some(q) = &c.queue {
                    if !(checks.queue_exists)(q) {
                        bad(format!("queue `{q}` does not exist"));
                    }
                }
            }
            Node::Voicemail(v) => {
                if !(checks.queue_exists)(&v.queue) {
                    bad(format!("queue `{}` does not exist", v.queue));
                }
                if !(5..=600).contains(&v.max_secs) {
                    bad("max_secs must be between 5 and 600".into());
                }
            }
            Node::Transfer(t) => {
                if let Err(why) = (checks.number_ok)(&t.number) {
                    bad(format!(
                        "number `{}` is not a phone number: {why}",
                        t.number
                    ));
                }
            }
            Node::Play(_) | Node::Language(_) | Node::Hangup(_) => {}
        }
    }

    // Which languages can be in force at each node, to check prompts where they play.
    let mut langs: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut queue: VecDeque<(&str, String)> = VecDeque::new();
    if parsed.nodes.contains_key(&parsed.start) {
        queue.push_back((parsed.start.as_str(), parsed.language.clone()));
    }
    while let Some((node, lang)) = queue.pop_front() {
        if !langs.entry(node).or_default().insert(lang.clone()) {
            continue;
        }
        let Some(n) = parsed.nodes.get(node) else {
            continue;
        };
        let next_lang = match n.get_ref() {
            Node::Language(l) => l.language.clone(),
            _ => lang,
        };
        for (_, t) in n.get_ref().targets() {
            if let Some((k, _)) = parsed.nodes.get_key_value(t) {
                queue.push_back((k.as_str(), next_lang.clone()));
            }
        }
    }
    let mut warnings = Vec::new();
    for (name, spanned) in &parsed.nodes {
        let loc = at(spanned.span().start);
        match langs.get(name.as_str()) {
            None => warnings.push(format!("{loc}: node `{name}` is never reached")),
            Some(ls) => {
                for l in ls {
                    for p in spanned.get_ref().prompts() {
                        if !(checks.prompt_exists)(l, &p) {
                            err(
                                loc.clone(),
                                format!(
                                    "node `{name}`: prompt `{p}` does not exist for language `{l}`"
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
    for (name, spanned) in &parsed.nodes {
        if let Node::Queue(q) = spanned.get_ref() {
            if q.callback {
                for l in langs.get(name.as_str()).into_iter().flatten() {
                    if !(checks.prompt_exists)(l, "callback_offer")
                        || !(checks.prompt_exists)(l, "callback_ok")
                    {
                        err(at(spanned.span().start), format!("node `{name}`: callback needs prompts `callback_offer` and `callback_ok` for `{l}`"));
                    }
                }
            }
        }
    }

    if !errors.is_empty() {
        return Err(FlowErrors(errors));
    }
    Ok(Flow {
        name: parsed.name,
        start: parsed.start,
        language: parsed.language,
        calendars,
        nodes: parsed
            .nodes
            .into_iter()
            .map(|(k, v)| (k, v.into_inner()))
            .collect(),
        warnings,
    })
}
