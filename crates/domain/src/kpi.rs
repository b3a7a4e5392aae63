//! KPIs, exactly as DESIGN.md §3 defines them, computed from stored events.
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
    let mut waiting: Option<usize> = None;
    let mut handling: Option<usize> = None;
    let mut connected_at: Option<i64> = None;
    let mut hold_since: Option<i64> = None;
    let mut hold_total = 0i64;
    let mut ended_at: Option<i64> = None;

    let close = |out: &mut Vec<QueueVisit>, w: &mut Option<usize>, outcome: Outcome, at: i64| {
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

    for e in events {
        match e.kind {
            EventKind::Queued => {
                if let Some(v) = waiting {
                    if Some(out[v].queue) == e.queue {
                        continue; // re-queued into the same queue: the same visit
                    }
                    close(out, &mut waiting, Outcome::Overflowed, e.at);
                }
                waiting = open(out, e);
            }
            EventKind::Overflowed => {
                close(out, &mut waiting, Outcome::Overflowed, e.at);
                waiting = open(out, e);
            }
            EventKind::Connected => {
                if let Some(v) = waiting.take() {
                    out[v].outcome = Outcome::Answered;
                    out[v].outcome_at = Some(e.at);
                    out[v].agent = e.agent;
                    handling = Some(v);
                }
                connected_at = Some(e.at);
                hold_since = None;
                hold_total = 0;
                ended_at = None;
            }
            EventKind::Held => hold_since = hold_since.or(Some(e.at)),
            EventKind::Resumed => {
                if let Some(h) = hold_since.take() {
                    hold_total += e.at - h;
                }
            }
            // Moved on by a person while still waiting: this queue's visit is over, and
            // it was neither answered nor abandoned here.
            EventKind::Transferred if waiting.is_some() && handling.is_none() => {
                close(out, &mut waiting, Outcome::TransferredOut, e.at);
            }
            EventKind::Ended | EventKind::Transferred => {
                if let (Some(v), Some(c)) = (handling, connected_at.take()) {
                    if let Some(h) = hold_since.take() {
                        hold_total += e.at - h;
                    }
                    out[v].hold_ms = hold_total;
                    out[v].talk_ms = (e.at - c - hold_total).max(0);
                    ended_at = Some(e.at);
                    if e.kind == EventKind::Transferred {
                        // The transferring agent's part is over; no after-call work is counted.
                        out[v].handled = true;
                        handling = None;
                    }
                } else if e.kind == EventKind::Ended {
                    close(out, &mut waiting, Outcome::Abandoned, e.at);
                }
            }
            EventKind::Abandoned => close(out, &mut waiting, Outcome::Abandoned, e.at),
            EventKind::Interrupted => close(out, &mut waiting, Outcome::Interrupted, e.at),
            EventKind::MaxWaitReached => close(out, &mut waiting, Outcome::TimedOut, e.at),
            EventKind::AcwDone => {
                if let (Some(v), Some(end)) = (handling.take(), ended_at) {
                    out[v].acw_ms = (e.at - end).max(0);
                    out[v].handled = true;
                }
            }
            _ => {}
        }
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

#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    offered: u64,
    answered: u64,
    abandoned: u64,
    short_abandoned: u64,
    overflowed: u64,
    timed_out: u64,
    interrupted: u64,
    transferred_out: u64,
    in_queue: u64,
    within_sl: u64,
    queue_ms_answered: i64,
    handled: u64,
    talk_ms: i64,
    hold_ms: i64,
    acw_ms: i64,
    handling_ms: i64,
    idle_ms: i64,
}

fn ratio(n: f64, d: f64) -> Option<f64> {
    (d > 0.0).then(|| n / d)
}

impl Acc {
    fn add_visit(&mut self, v: &QueueVisit, sl_threshold_ms: i64, short_abandon_ms: i64) {
        let wait = v.outcome_at.map(|t| t - v.entered_at);
        match v.outcome {
            Outcome::Abandoned if wait.is_some_and(|w| w <= short_abandon_ms) => {
                self.short_abandoned += 1;
                return;
            }
            Outcome::Interrupted => {
                self.interrupted += 1;
                return;
            }
            Outcome::TransferredOut => {
                self.transferred_out += 1;
                return;
            }
            Outcome::Abandoned => self.abandoned += 1,
            Outcome::Answered => {
                let w = wait.unwrap_or(0);
                self.answered += 1;
                self.queue_ms_answered += w;
                if w <= sl_threshold_ms {
                    self.within_sl += 1;
                }
                if v.handled {
                    self.handled += 1;
                    self.talk_ms += v.talk_ms;
                    self.hold_ms += v.hold_ms;
                    self.acw_ms += v.acw_ms;
                }
            }
            Outcome::Overflowed => self.overflowed += 1,
            Outcome::TimedOut => self.timed_out += 1,
            Outcome::Open => self.in_queue += 1,
        }
        self.offered += 1;
    }

    fn finish(self) -> Kpis {
        let offered = self.offered as f64;
        let answered = self.answered as f64;
        let handled = self.handled as f64;
        let handling = self.handling_ms as f64;
        Kpis {
            offered: self.offered,
            answered: self.answered,
            abandoned: self.abandoned,
            short_abandoned: self.short_abandoned,
            overflowed: self.overflowed,
            timed_out: self.timed_out,
            interrupted: self.interrupted,
            transferred_out: self.transferred_out,
            in_queue: self.in_queue,
            answered_within_sl: self.within_sl,
            answer_rate: ratio(answered, offered),
            abandon_rate: ratio(self.abandoned as f64, offered),
            service_level: ratio(self.within_sl as f64, offered),
            asa_secs: ratio(self.queue_ms_answered as f64 / 1000.0, answered),
            handled: self.handled,
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
    let mut acc = vec![vec![Acc::default(); buckets.len()]; queues.len()];

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
            out.push(IntervalKpis {
                queue: spec.queue,
                start,
                end,
                kpis: acc[qi][b].finish(),
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
mod tests {
    use super::*;
    use EventKind::*;

    const S: i64 = 1000;
    const T0: i64 = 1_767_571_200_000; // 2026-01-05 00:00 UTC = 09:00 JST

    fn ev(
        contact: i64,
        at: i64,
        kind: EventKind,
        queue: Option<i64>,
        agent: Option<i64>,
    ) -> EventRecord {
        EventRecord {
            contact,
            at: T0 + at,
            kind,
            queue,
            agent,
        }
    }

    fn jst() -> TimeZone {
        TimeZone::get("Asia/Tokyo").unwrap()
    }

    fn query(minutes: u32) -> KpiQuery {
        KpiQuery {
            from: T0,
            to: T0 + 3600 * S,
            interval_minutes: minutes,
            tz: jst(),
            short_abandon_ms: 5 * S,
            now: T0 + 3600 * S,
        }
    }

    #[test]
    fn visits_follow_the_timeline() {
        let events = vec![
            ev(1, 0, Created, None, None),
            ev(1, 0, Queued, Some(10), None),
            ev(1, 8 * S, Offered, Some(10), Some(7)),
            ev(1, 10 * S, Accepted, Some(10), Some(7)),
            ev(1, 10 * S, Connected, Some(10), Some(7)),
            ev(1, 40 * S, Held, None, Some(7)),
            ev(1, 60 * S, Resumed, None, Some(7)),
            ev(1, 130 * S, Ended, None, Some(7)),
            ev(1, 160 * S, AcwDone, None, Some(7)),
            ev(2, 0, Queued, Some(10), None),
            ev(2, 60 * S, Overflowed, Some(11), None),
            ev(2, 70 * S, Abandoned, None, None),
        ];
        let v = visits_from_events(&events);
        assert_eq!(v.len(), 3);
        assert_eq!(
            (v[0].outcome, v[0].wait_ms(0), v[0].agent),
            (Outcome::Answered, 10 * S, Some(7))
        );
        assert_eq!(
            (v[0].talk_ms, v[0].hold_ms, v[0].acw_ms, v[0].handled),
            (100 * S, 20 * S, 30 * S, true)
        );
        assert_eq!((v[1].queue, v[1].outcome), (10, Outcome::Overflowed));
        assert_eq!(
            (v[2].queue, v[2].outcome, v[2].wait_ms(0)),
            (11, Outcome::Abandoned, 10 * S)
        );
    }

    #[test]
    fn interruptions_and_transfers_while_waiting_are_their_own_outcomes() {
        let events = vec![
            // Moved by a supervisor from queue 10 to 11 while waiting, answered there.
            ev(1, 0, Queued, Some(10), None),
            ev(1, 30 * S, Transferred, Some(10), None),
            ev(1, 30 * S, Queued, Some(11), None),
            ev(1, 35 * S, Accepted, Some(11), Some(7)),
            ev(1, 35 * S, Connected, Some(11), Some(7)),
            // A restart ended it while it waited.
            ev(2, 0, Queued, Some(10), None),
            ev(2, 50 * S, Interrupted, Some(10), None),
            // The agent answered, the caller left before being connected: an abandon.
            ev(3, 0, Queued, Some(10), None),
            ev(3, 20 * S, Accepted, Some(10), Some(7)),
            ev(3, 20 * S, Abandoned, Some(10), None),
        ];
        let v = visits_from_events(&events);
        let outcomes: Vec<_> = v.iter().map(|v| (v.contact, v.queue, v.outcome)).collect();
        assert_eq!(
            outcomes,
            vec![
                (1, 10, Outcome::TransferredOut),
                (1, 11, Outcome::Answered),
                (2, 10, Outcome::Interrupted),
                (3, 10, Outcome::Abandoned),
            ]
        );
        let spec = QueueSpec {
            queue: 10,
            sl_threshold_ms: 20 * S,
            agents: vec![],
        };
        let k = &queue_kpis(&query(0), &[spec], &v, &[])[0].kpis;
        assert_eq!(
            (k.offered, k.abandoned, k.interrupted, k.transferred_out),
            (1, 1, 1, 1),
            "only the abandon was offered to queue 10: {k:?}"
        );
        assert_eq!(k.abandon_rate, Some(1.0));
        assert_eq!(k.service_level, Some(0.0));
    }

    #[test]
    fn formulas_match_the_design_document() {
        // Queue 10, one hour, SL threshold 20 s. Waits: answered 5, 15, 25, 40 s; abandoned
        // after 30 s and after 3 s (short); one timed out; one still waiting.
        let mut visits = Vec::new();
        let mk = |c, entered: i64, outcome, wait: Option<i64>, handled: bool| QueueVisit {
            contact: c,
            queue: 10,
            entered_at: T0 + entered,
            outcome,
            outcome_at: wait.map(|w| T0 + entered + w),
            agent: None,
            talk_ms: if handled { 120 * S } else { 0 },
            hold_ms: if handled { 10 * S } else { 0 },
            acw_ms: if handled { 30 * S } else { 0 },
            handled,
        };
        visits.push(mk(1, 0, Outcome::Answered, Some(5 * S), true));
        visits.push(mk(2, 60 * S, Outcome::Answered, Some(15 * S), true));
        visits.push(mk(3, 120 * S, Outcome::Answered, Some(25 * S), true));
        visits.push(mk(4, 180 * S, Outcome::Answered, Some(40 * S), false));
        visits.push(mk(5, 240 * S, Outcome::Abandoned, Some(30 * S), false));
        visits.push(mk(6, 300 * S, Outcome::Abandoned, Some(3 * S), false));
        visits.push(mk(7, 360 * S, Outcome::TimedOut, Some(300 * S), false));
        visits.push(mk(8, 3000 * S, Outcome::Open, None, false));
        visits.push(mk(9, 4000 * S, Outcome::Answered, Some(S), true)); // outside the hour
        let spec = QueueSpec {
            queue: 10,
            sl_threshold_ms: 20 * S,
            agents: vec![],
        };
        let out = queue_kpis(&query(0), &[spec], &visits, &[]);
        assert_eq!(out.len(), 1);
        let k = &out[0].kpis;
        assert_eq!(
            (k.offered, k.answered, k.abandoned, k.short_abandoned),
            (7, 4, 1, 1)
        );
        assert_eq!(
            (k.timed_out, k.in_queue, k.answered_within_sl, k.handled),
            (1, 1, 2, 3)
        );
        assert_eq!(k.answer_rate, Some(4.0 / 7.0));
        assert_eq!(k.abandon_rate, Some(1.0 / 7.0));
        assert_eq!(k.service_level, Some(2.0 / 7.0));
        assert_eq!(k.asa_secs, Some((5.0 + 15.0 + 25.0 + 40.0) / 4.0));
        assert_eq!(k.aht_secs, Some(160.0));
    }

    #[test]
    fn intervals_align_to_local_time_and_split_agent_time() {
        // 09:10 JST → 09:00 for 15/30/60-minute intervals; India (+05:30) aligns on its clock.
        let t = T0 + 10 * 60 * S;
        assert_eq!(interval_start(t, &jst(), 15), T0);
        assert_eq!(interval_start(t + 7 * 60 * S, &jst(), 15), T0 + 15 * 60 * S);
        assert_eq!(interval_start(t, &jst(), 60), T0);
        let kolkata = TimeZone::get("Asia/Kolkata").unwrap();
        // 00:10 UTC = 05:40 IST → 05:30 IST = 00:00 UTC for 30 min, 05:00 IST for 60 min.
        assert_eq!(interval_start(t, &kolkata, 30), T0);
        assert_eq!(interval_start(t, &kolkata, 60), T0 - 30 * 60 * S);

        // Agent 7: available 0-10 min, busy 10-40, ACW 40-50, not ready 50-60.
        let st = |at: i64, status| AgentStatusRecord {
            agent: 7,
            at: T0 + at * 60 * S,
            status,
        };
        let statuses = vec![
            st(0, AgentStatus::Available),
            st(10, AgentStatus::Busy),
            st(40, AgentStatus::AfterCallWork),
            st(50, AgentStatus::NotReady),
        ];
        let spec = QueueSpec {
            queue: 10,
            sl_threshold_ms: 20 * S,
            agents: vec![7],
        };
        let out = queue_kpis(&query(30), &[spec], &[], &statuses);
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].kpis.handling_secs, out[0].kpis.idle_secs),
            (1200.0, 600.0)
        );
        assert_eq!(out[0].kpis.occupancy, Some(2.0 / 3.0));
        assert_eq!(
            (out[1].kpis.handling_secs, out[1].kpis.idle_secs),
            (1200.0, 0.0)
        );
        assert_eq!(out[1].kpis.occupancy, Some(1.0));
    }
}
