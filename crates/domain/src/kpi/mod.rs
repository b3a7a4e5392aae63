//! KPIs, exactly as `docs/kpi.md` defines them, computed from stored events.
//!
//! 1. [`visits_from_events`] turns each contact's timeline into queue visits: a visit starts
//!    when the contact enters a queue (or overflows into it) and ends answered, abandoned,
//!    overflowed or timed out; an answered visit carries its talk, hold and after-call work.
//! 2. [`queue_kpis`] buckets visits by the interval in which they *entered* the queue (so
//!    answered ≤ offered in every interval) and agent time by when it was spent.
//!
//! Definitions (per queue, per interval):
//! * offered (入電数) = visits that entered the queue, minus short abandons;
//! * answered (応答数) = visits connected to an agent;
//! * abandoned (放棄呼) = the customer left while queued after more than the short-abandon
//!   threshold (default 5 s); short abandons count in neither offered nor abandoned;
//! * interrupted (中断) = the center ended the contact while it waited (a restart or
//!   shutdown, a supervisor's hang-up, a call lost by the system), and transferred out = a
//!   person moved it from this queue to another while it waited: neither is the customer's
//!   doing nor the queue's service, so both count in neither offered nor abandoned and are
//!   reported on their own;
//! * answer rate (応答率) = answered ÷ offered; abandon rate (放棄率) = abandoned ÷ offered;
//! * service level (時間内応答率) = answered within Y s ÷ offered;
//! * ASA = queue time of answered visits ÷ answered (queue time only; IVR time is before
//!   the visit starts);
//! * AHT = (talk + hold + after-call work) ÷ handled, handled = answered visits whose
//!   after-call work is done;
//! * occupancy = handling time ÷ (handling time + available idle time) of the queue's
//!   agents, where handling is busy or after-call work and idle is available or ringing.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;

use crate::contact::EventKind;
use crate::AgentStatus;

pub mod live;
mod sums;

pub use sums::{grain_start, regroup, totals, IntervalSums, GRAIN_MS};

/// Local midnight in the tenant's zone, as Unix milliseconds.
pub fn start_of_day(now: i64, zone: &str) -> i64 {
    let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_millisecond(now)
        .ok()
        .and_then(|t| t.to_zoned(tz).start_of_day().ok())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(now - now.rem_euclid(86_400_000))
}

/// One stored timeline event, as the KPI code needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    pub contact: i64,
    pub at: i64,
    pub kind: EventKind,
    pub queue: Option<i64>,
    pub agent: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still waiting (or ringing).
    Open,
    Answered,
    Abandoned,
    Overflowed,
    TimedOut,
    /// Ended by the center while waiting (not the customer's doing).
    Interrupted,
    /// Moved to another queue by a person while waiting.
    TransferredOut,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueVisit {
    pub contact: i64,
    pub queue: i64,
    pub entered_at: i64,
    pub outcome: Outcome,
    pub outcome_at: Option<i64>,
    pub agent: Option<i64>,
    pub talk_ms: i64,
    pub hold_ms: i64,
    pub acw_ms: i64,
    /// Talk and after-call work are both over.
    pub handled: bool,
}

impl QueueVisit {
    /// Time in queue until the outcome (or until `now` while open).
    pub fn wait_ms(&self, now: i64) -> i64 {
        self.outcome_at.unwrap_or(now) - self.entered_at
    }
}

/// Rebuilds queue visits from events ordered by contact, then time, then sequence.
pub fn visits_from_events(events: &[EventRecord]) -> Vec<QueueVisit> {
    let mut out: Vec<QueueVisit> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let contact = events[i].contact;
        let mut j = i;
        while j < events.len() && events[j].contact == contact {
            j += 1;
        }
        contact_visits(&events[i..j], &mut out);
        i = j;
    }
    out
}

fn contact_visits(events: &[EventRecord], out: &mut Vec<QueueVisit>) {
    let mut track = VisitTracker::default();
    for e in events {
        track.step(e, out);
    }
}

/// One contact's walk through queues, read one event at a time: which of its visits is
/// waiting, which is being handled, and the talk and hold clocks. `step` opens visits
/// (pushed on `out`) and fills them in place; the same reading serves the recompute from
/// stored events ([`visits_from_events`]) and the live figures ([`live::DayFigures`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct VisitTracker {
    /// Index in `out` of the visit waiting in a queue.
    pub(crate) waiting: Option<usize>,
    /// Index in `out` of the visit being handled (talk, then after-call work).
    pub(crate) handling: Option<usize>,
    connected_at: Option<i64>,
    hold_since: Option<i64>,
    hold_total: i64,
    ended_at: Option<i64>,
}

impl VisitTracker {
    pub(crate) fn step(&mut self, e: &EventRecord, out: &mut Vec<QueueVisit>) {
        let close =
            |out: &mut Vec<QueueVisit>, w: &mut Option<usize>, outcome: Outcome, at: i64| {
                if let Some(v) = w.take() {
                    out[v].outcome = outcome;
                    out[v].outcome_at = Some(at);
                }
            };
        let open = |out: &mut Vec<QueueVisit>, e: &EventRecord| -> Option<usize> {
            let queue = e.queue?;
            out.push(QueueVisit {
                contact: e.contact,
                queue,
                entered_at: e.at,
                outcome: Outcome::Open,
                outcome_at: None,
                agent: None,
                talk_ms: 0,
                hold_ms: 0,
                acw_ms: 0,
                handled: false,
            });
            Some(out.len() - 1)
        };
        match e.kind {
            EventKind::Queued => {
                if let Some(v) = self.waiting {
                    if Some(out[v].queue) == e.queue {
                        return; // re-queued into the same queue: the same visit
                    }
                    close(out, &mut self.waiting, Outcome::Overflowed, e.at);
                }
                self.waiting = open(out, e);
            }
            EventKind::Overflowed => {
                close(out, &mut self.waiting, Outcome::Overflowed, e.at);
                self.waiting = open(out, e);
            }
            EventKind::Connected => {
                if let Some(v) = self.waiting.take() {
                    out[v].outcome = Outcome::Answered;
                    out[v].outcome_at = Some(e.at);
                    out[v].agent = e.agent;
                    self.handling = Some(v);
                }
                self.connected_at = Some(e.at);
                self.hold_since = None;
                self.hold_total = 0;
                self.ended_at = None;
            }
            EventKind::Held => self.hold_since = self.hold_since.or(Some(e.at)),
            EventKind::Resumed => {
                if let Some(h) = self.hold_since.take() {
                    self.hold_total += e.at - h;
                }
            }
            // Moved on by a person while still waiting: this queue's visit is over, and
            // it was neither answered nor abandoned here.
            EventKind::Transferred if self.waiting.is_some() && self.handling.is_none() => {
                close(out, &mut self.waiting, Outcome::TransferredOut, e.at);
            }
            EventKind::Ended | EventKind::Transferred => {
                if let (Some(v), Some(c)) = (self.handling, self.connected_at.take()) {
                    if let Some(h) = self.hold_since.take() {
                        self.hold_total += e.at - h;
                    }
                    out[v].hold_ms = self.hold_total;
                    out[v].talk_ms = (e.at - c - self.hold_total).max(0);
                    self.ended_at = Some(e.at);
                    if e.kind == EventKind::Transferred {
                        // The transferring agent's part is over; no after-call work is counted.
                        out[v].handled = true;
                        self.handling = None;
                    }
                } else if e.kind == EventKind::Ended {
                    close(out, &mut self.waiting, Outcome::Abandoned, e.at);
                }
            }
            EventKind::Abandoned => close(out, &mut self.waiting, Outcome::Abandoned, e.at),
            EventKind::Interrupted => close(out, &mut self.waiting, Outcome::Interrupted, e.at),
            EventKind::MaxWaitReached => close(out, &mut self.waiting, Outcome::TimedOut, e.at),
            EventKind::AcwDone => {
                if let (Some(v), Some(end)) = (self.handling.take(), self.ended_at) {
                    out[v].acw_ms = (e.at - end).max(0);
                    out[v].handled = true;
                }
            }
            _ => {}
        }
    }

    /// Nothing of this contact can change any more: no visit waits or is handled.
    pub(crate) fn is_done(&self) -> bool {
        self.waiting.is_none() && self.handling.is_none()
    }
}

/// An agent status change as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentStatusRecord {
    pub agent: i64,
    pub at: i64,
    pub status: AgentStatus,
}

/// The KPI figures of one queue over one interval (or a whole range).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Kpis {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub overflowed: u64,
    pub timed_out: u64,
    /// Ended by the center while waiting (restart, shutdown, a supervisor's hang-up); not
    /// in offered.
    pub interrupted: u64,
    /// Moved to another queue by a person while waiting; not in offered.
    pub transferred_out: u64,
    /// Entered in the interval and still waiting.
    pub in_queue: u64,
    pub answered_within_sl: u64,
    /// 応答率
    pub answer_rate: Option<f64>,
    /// 放棄率
    pub abandon_rate: Option<f64>,
    /// 時間内応答率 (X/Y): answered within the threshold ÷ offered.
    pub service_level: Option<f64>,
    pub asa_secs: Option<f64>,
    pub handled: u64,
    pub aht_secs: Option<f64>,
    pub talk_secs: f64,
    pub hold_secs: f64,
    pub acw_secs: f64,
    pub handling_secs: f64,
    pub idle_secs: f64,
    pub occupancy: Option<f64>,
}

/// Sums over visits and agent time, before the ratios: what an interval's figures are made
/// of, and what is stored per finished interval (adding two gives the figures of both).
/// Counts are signed so that a visit can be taken out again exactly as it was put in (the
/// live figures replace a visit that changed: out with the old, in with the new).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sums {
    pub offered: i64,
    pub answered: i64,
    pub abandoned: i64,
    pub short_abandoned: i64,
    pub overflowed: i64,
    pub timed_out: i64,
    pub interrupted: i64,
    pub transferred_out: i64,
    pub in_queue: i64,
    pub within_sl: i64,
    /// Queue time of the answered visits, ms.
    pub queue_ms_answered: i64,
    pub handled: i64,
    pub talk_ms: i64,
    pub hold_ms: i64,
    pub acw_ms: i64,
    /// Busy or after-call work of the queue's agents, ms.
    pub handling_ms: i64,
    /// Available or ringing of the queue's agents, ms.
    pub idle_ms: i64,
}

fn ratio(n: f64, d: f64) -> Option<f64> {
    (d > 0.0).then(|| n / d)
}

impl Sums {
    /// Adds another interval's sums (both kept with the same thresholds).
    pub fn add(&mut self, o: &Sums) {
        self.combine(o, 1);
    }

    /// Takes out what [`Sums::add`] put in.
    pub fn subtract(&mut self, o: &Sums) {
        self.combine(o, -1);
    }

    fn combine(&mut self, o: &Sums, n: i64) {
        let mut theirs = *o;
        let theirs = theirs.fields_mut().map(|f| *f);
        for (mine, t) in self.fields_mut().into_iter().zip(theirs) {
            *mine += n * t;
        }
    }

    fn fields_mut(&mut self) -> [&mut i64; 17] {
        [
            &mut self.offered,
            &mut self.answered,
            &mut self.abandoned,
            &mut self.short_abandoned,
            &mut self.overflowed,
            &mut self.timed_out,
            &mut self.interrupted,
            &mut self.transferred_out,
            &mut self.in_queue,
            &mut self.within_sl,
            &mut self.queue_ms_answered,
            &mut self.handled,
            &mut self.talk_ms,
            &mut self.hold_ms,
            &mut self.acw_ms,
            &mut self.handling_ms,
            &mut self.idle_ms,
        ]
    }

    /// Nothing counted.
    pub fn is_empty(&self) -> bool {
        *self == Sums::default()
    }

    pub(crate) fn add_visit(
        &mut self,
        v: &QueueVisit,
        sl_threshold_ms: i64,
        short_abandon_ms: i64,
    ) {
        self.count_visit(v, sl_threshold_ms, short_abandon_ms, 1);
    }

    /// Takes out a visit added with the same thresholds.
    pub(crate) fn remove_visit(
        &mut self,
        v: &QueueVisit,
        sl_threshold_ms: i64,
        short_abandon_ms: i64,
    ) {
        self.count_visit(v, sl_threshold_ms, short_abandon_ms, -1);
    }

    /// `n` = 1 adds the visit, −1 takes it out.
    fn count_visit(&mut self, v: &QueueVisit, sl_threshold_ms: i64, short_abandon_ms: i64, n: i64) {
        let wait = v.outcome_at.map(|t| t - v.entered_at);
        match v.outcome {
            Outcome::Abandoned if wait.is_some_and(|w| w <= short_abandon_ms) => {
                self.short_abandoned += n;
                return;
            }
            Outcome::Interrupted => {
                self.interrupted += n;
                return;
            }
            Outcome::TransferredOut => {
                self.transferred_out += n;
                return;
            }
            Outcome::Abandoned => self.abandoned += n,
            Outcome::Answered => {
                let w = wait.unwrap_or(0);
                self.answered += n;
                self.queue_ms_answered += n * w;
                if w <= sl_threshold_ms {
                    self.within_sl += n;
                }
                if v.handled {
                    self.handled += n;
                    self.talk_ms += n * v.talk_ms;
                    self.hold_ms += n * v.hold_ms;
                    self.acw_ms += n * v.acw_ms;
                }
            }
            Outcome::Overflowed => self.overflowed += n,
            Outcome::TimedOut => self.timed_out += n,
            Outcome::Open => self.in_queue += n,
        }
        self.offered += n;
    }

    /// The figures: counts and the ratios of `docs/kpi.md`.
    pub fn finish(self) -> Kpis {
        let count = |n: i64| n.max(0) as u64;
        let offered = self.offered as f64;
        let answered = self.answered as f64;
        let handled = self.handled as f64;
        let handling = self.handling_ms as f64;
        Kpis {
            offered: count(self.offered),
            answered: count(self.answered),
            abandoned: count(self.abandoned),
            short_abandoned: count(self.short_abandoned),
            overflowed: count(self.overflowed),
            timed_out: count(self.timed_out),
            interrupted: count(self.interrupted),
            transferred_out: count(self.transferred_out),
            in_queue: count(self.in_queue),
            answered_within_sl: count(self.within_sl),
            answer_rate: ratio(answered, offered),
            abandon_rate: ratio(self.abandoned as f64, offered),
            service_level: ratio(self.within_sl as f64, offered),
            asa_secs: ratio(self.queue_ms_answered as f64 / 1000.0, answered),
            handled: count(self.handled),
            aht_secs: ratio(
                (self.talk_ms + self.hold_ms + self.acw_ms) as f64 / 1000.0,
                handled,
            ),
            talk_secs: self.talk_ms as f64 / 1000.0,
            hold_secs: self.hold_ms as f64 / 1000.0,
            acw_secs: self.acw_ms as f64 / 1000.0,
            handling_secs: handling / 1000.0,
            idle_secs: self.idle_ms as f64 / 1000.0,
            occupancy: ratio(handling, handling + self.idle_ms as f64),
        }
    }
}

/// What to compute.
#[derive(Clone, Debug)]
pub struct KpiQuery {
    pub from: i64,
    pub to: i64,
    /// 15, 30 or 60; 0 for one figure over the whole range.
    pub interval_minutes: u32,
    /// Intervals are aligned to the center's local clock.
    pub tz: TimeZone,
    pub short_abandon_ms: i64,
    /// Open visits and the current agent status run until here.
    pub now: i64,
}

/// A queue to report on: its service-level threshold (Y) and its agents.
#[derive(Clone, Debug)]
pub struct QueueSpec {
    pub queue: i64,
    pub sl_threshold_ms: i64,
    pub agents: Vec<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntervalKpis {
    pub queue: i64,
    pub start: i64,
    pub end: i64,
    pub kpis: Kpis,
}

/// Start of the interval containing `ts`, aligned to local time in `tz`.
pub fn interval_start(ts: i64, tz: &TimeZone, minutes: u32) -> i64 {
    let Ok(t) = Timestamp::from_millisecond(ts) else {
        return ts;
    };
    let z = t.to_zoned(tz.clone());
    let minute_of_day = i64::from(z.hour()) * 60 + i64::from(z.minute());
    let into = (minute_of_day % i64::from(minutes)) * 60_000
        + i64::from(z.second()) * 1000
        + i64::from(z.millisecond());
    ts - into
}

/// Interval boundaries covering [from, to).
pub fn intervals(q: &KpiQuery) -> Vec<(i64, i64)> {
    if q.interval_minutes == 0 {
        return vec![(q.from, q.to)];
    }
    let step = i64::from(q.interval_minutes) * 60_000;
    let mut out = Vec::new();
    let mut start = interval_start(q.from, &q.tz, q.interval_minutes);
    while start < q.to {
        out.push((start, start + step));
        start += step;
    }
    out
}

/// KPIs per queue and interval. `visits` may cover more than the range; visits are counted
/// in the interval they entered the queue, agent time where it was spent.
pub fn queue_kpis(
    q: &KpiQuery,
    queues: &[QueueSpec],
    visits: &[QueueVisit],
    statuses: &[AgentStatusRecord],
) -> Vec<IntervalKpis> {
    queue_sums(q, queues, visits, statuses)
        .iter()
        .map(IntervalSums::finish)
        .collect()
}

/// The sums behind [`queue_kpis`], per queue and interval.
pub fn queue_sums(
    q: &KpiQuery,
    queues: &[QueueSpec],
    visits: &[QueueVisit],
    statuses: &[AgentStatusRecord],
) -> Vec<IntervalSums> {
    let buckets = intervals(q);
    let bucket_of = |t: i64| -> Option<usize> {
        if t < q.from || t >= q.to {
            return None;
        }
        let i = buckets.partition_point(|b| b.0 <= t);
        (i > 0 && t < buckets[i - 1].1).then(|| i - 1)
    };
    let queue_index: HashMap<i64, usize> = queues
        .iter()
        .enumerate()
        .map(|(i, s)| (s.queue, i))
        .collect();
    let mut acc = vec![vec![Sums::default(); buckets.len()]; queues.len()];

    for v in visits {
        let (Some(&qi), Some(b)) = (queue_index.get(&v.queue), bucket_of(v.entered_at)) else {
            continue;
        };
        let short = q.short_abandon_ms;
        acc[qi][b].add_visit(v, queues[qi].sl_threshold_ms, short);
    }

    // Agent time per bucket, then added to every queue the agent serves.
    let agent_time = agent_time(q, &buckets, statuses);
    for (qi, spec) in queues.iter().enumerate() {
        for agent in &spec.agents {
            if let Some(times) = agent_time.get(agent) {
                for (b, &(handling, idle)) in times.iter().enumerate() {
                    acc[qi][b].handling_ms += handling;
                    acc[qi][b].idle_ms += idle;
                }
            }
        }
    }

    let mut out = Vec::with_capacity(queues.len() * buckets.len());
    for (qi, spec) in queues.iter().enumerate() {
        for (b, &(start, end)) in buckets.iter().enumerate() {
            out.push(IntervalSums {
                queue: spec.queue,
                start,
                end,
                sums: acc[qi][b],
            });
        }
    }
    out
}

/// (handling, idle) milliseconds per agent per bucket.
fn agent_time(
    q: &KpiQuery,
    buckets: &[(i64, i64)],
    statuses: &[AgentStatusRecord],
) -> HashMap<i64, Vec<(i64, i64)>> {
    let mut out: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
    let horizon = q.to.min(q.now);
    for (i, s) in statuses.iter().enumerate() {
        let end = match statuses.get(i + 1) {
            Some(next) if next.agent == s.agent => next.at,
            _ => horizon,
        };
        let (start, end) = (s.at.max(q.from), end.min(horizon));
        if end <= start {
            continue;
        }
        let handling = match s.status {
            AgentStatus::Busy | AgentStatus::AfterCallWork => true,
            AgentStatus::Available | AgentStatus::Offered => false,
            AgentStatus::NotReady | AgentStatus::Offline => continue,
        };
        let slots = out
            .entry(s.agent)
            .or_insert_with(|| vec![(0, 0); buckets.len()]);
        let first = buckets.partition_point(|b| b.1 <= start);
        for (b, &(bs, be)) in buckets.iter().enumerate().skip(first) {
            if bs >= end {
                break;
            }
            let overlap = end.min(be) - start.max(bs);
            if overlap > 0 {
                if handling {
                    slots[b].0 += overlap;
                } else {
                    slots[b].1 += overlap;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
