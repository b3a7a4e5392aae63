//! The live figures against the recompute from stored events (the reference): the same
//! figures for any sequence of events, at any moment, across a day's turn and configuration
//! changes.

use proptest::prelude::*;

use super::*;
use crate::contact::EventKind;
use crate::kpi::{queue_kpis, regroup, visits_from_events, IntervalKpis, KpiQuery, QueueSpec};

const DAY: i64 = 86_400_000;
const DAY0: i64 = 1_767_571_200_000; // a UTC midnight
const QUEUES: [i64; 3] = [10, 20, 30];

/// Every kind the visit reading looks at, and one it ignores.
const KINDS: [EventKind; 14] = [
    EventKind::Queued,
    EventKind::Overflowed,
    EventKind::Connected,
    EventKind::Held,
    EventKind::Resumed,
    EventKind::Transferred,
    EventKind::Ended,
    EventKind::Abandoned,
    EventKind::Interrupted,
    EventKind::MaxWaitReached,
    EventKind::AcwDone,
    EventKind::Queued,
    EventKind::Connected,
    EventKind::Offered,
];

const STATUSES: [AgentStatus; 6] = [
    AgentStatus::Available,
    AgentStatus::Offered,
    AgentStatus::Busy,
    AgentStatus::AfterCallWork,
    AgentStatus::NotReady,
    AgentStatus::Offline,
];

/// One step of a generated day: time passes, then an event, an agent status, or a
/// configuration change happens.
#[derive(Clone, Debug)]
enum Step {
    Event {
        dt: i64,
        contact: i64,
        kind: usize,
        queue: usize,
        agent: i64,
    },
    Status {
        dt: i64,
        agent: i64,
        status: usize,
    },
    Threshold {
        queue: usize,
        secs: i64,
    },
    ShortAbandon {
        secs: i64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..120_000i64, 0..12i64, 0..KINDS.len(), 0..4usize, 1..4i64).prop_map(
            |(dt, contact, kind, queue, agent)| Step::Event { dt, contact, kind, queue, agent }
        ),
        2 => (0..300_000i64, 1..4i64, 0..STATUSES.len())
            .prop_map(|(dt, agent, status)| Step::Status { dt, agent, status }),
        1 => (0..3usize, 0..40i64).prop_map(|(queue, secs)| Step::Threshold { queue, secs }),
        1 => (0..10i64).prop_map(|secs| Step::ShortAbandon { secs }),
    ]
}

/// The world as the recompute sees it: everything stored so far.
struct Stored {
    events: Vec<(EventRecord, u64)>,
    statuses: Vec<(AgentStatusRecord, u64)>,
    sl_ms: [i64; 3],
    short_ms: i64,
    seq: u64,
    /// When a threshold last changed.
    config_changed_at: Option<i64>,
}

fn members(queue: i64) -> Vec<i64> {
    // Agent 1 serves every queue, agent 2 the first two, agent 3 the last.
    match queue {
        10 => vec![1, 2],
        20 => vec![1, 2],
        _ => vec![1, 3],
    }
}

impl Stored {
    fn changed_since(&self, t: i64) -> bool {
        self.config_changed_at.is_some_and(|c| c >= t)
    }

    /// The recompute over [day_start, now] as `GET /api/kpi/realtime` did it.
    fn recompute(&self, day_start: i64, now: i64) -> Vec<Kpis> {
        self.report(day_start, now + 1, now, 0)
            .into_iter()
            .map(|k| k.kpis)
            .collect()
    }

    /// The recompute of a report over [from, to) at `now` in intervals of `minutes`.
    fn report(&self, day_start: i64, to: i64, now: i64, minutes: u32) -> Vec<IntervalKpis> {
        // The store's read: every event of the contacts that entered a queue in range.
        let in_range: std::collections::HashSet<i64> = self
            .events
            .iter()
            .filter(|(e, _)| {
                e.at >= day_start
                    && e.at < to
                    && e.at <= now
                    && matches!(e.kind, EventKind::Queued | EventKind::Overflowed)
            })
            .map(|(e, _)| e.contact)
            .collect();
        let mut events: Vec<(EventRecord, u64)> = self
            .events
            .iter()
            .filter(|(e, _)| in_range.contains(&e.contact))
            .cloned()
            .collect();
        events.sort_by_key(|(e, seq)| (e.contact, e.at, *seq));
        let events: Vec<EventRecord> = events.into_iter().map(|(e, _)| e).collect();
        // The store's read of statuses: in range, and the last one before it per agent if
        // set within the look-back.
        let mut statuses: Vec<(AgentStatusRecord, u64)> = self.statuses.clone();
        statuses.sort_by_key(|(s, seq)| (s.agent, s.at, *seq));
        let mut kept = Vec::new();
        for (i, (s, _)) in statuses.iter().enumerate() {
            if s.at < day_start - STATUS_LOOKBACK_MS || s.at > now {
                continue;
            }
            let next_same_before = statuses
                .get(i + 1)
                .is_some_and(|(n, _)| n.agent == s.agent && n.at < day_start);
            if s.at >= day_start || !next_same_before {
                kept.push(*s);
            }
        }
        let specs: Vec<QueueSpec> = QUEUES
            .iter()
            .enumerate()
            .map(|(i, &q)| QueueSpec {
                queue: q,
                sl_threshold_ms: self.sl_ms[i],
                agents: members(q),
            })
            .collect();
        let query = KpiQuery {
            from: day_start,
            to,
            interval_minutes: minutes,
            tz: jiff::tz::TimeZone::UTC,
            short_abandon_ms: self.short_ms,
            now,
        };
        queue_kpis(&query, &specs, &visits_from_events(&events), &kept)
    }
}

fn query(from: i64, to: i64, now: i64, minutes: u32) -> KpiQuery {
    KpiQuery {
        from,
        to,
        interval_minutes: minutes,
        tz: jiff::tz::TimeZone::UTC,
        short_abandon_ms: 0,
        now,
    }
}

/// Runs the steps from `start` through both paths and compares after every step.
fn run(start: i64, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut stored = Stored {
        events: Vec::new(),
        statuses: Vec::new(),
        sl_ms: [20_000; 3],
        short_ms: 5_000,
        seq: 0,
        config_changed_at: None,
    };
    let mut live = DayFigures::new(start - start.rem_euclid(DAY), stored.short_ms);
    for &q in &QUEUES {
        live.set_queue(q, 20_000, members(q));
    }
    let mut now = start;
    // What would be stored: the finished days' grains, corrected as late events come.
    let mut stored_grains: Vec<IntervalSums> = Vec::new();
    for (n, s) in steps.iter().enumerate() {
        match *s {
            Step::Event {
                dt,
                contact,
                kind,
                queue,
                agent,
            } => {
                now += dt;
                stored_grains.extend(live.start_day(now - now.rem_euclid(DAY)));
                let e = EventRecord {
                    contact,
                    at: now,
                    kind: KINDS[kind],
                    queue: QUEUES.get(queue).copied(),
                    agent: Some(agent),
                };
                stored.seq += 1;
                stored.events.push((e.clone(), stored.seq));
                live.handle_event(&e);
                while let Some(c) = live.poll_correction() {
                    stored_grains.push(c);
                }
            }
            Step::Status { dt, agent, status } => {
                now += dt;
                stored_grains.extend(live.start_day(now - now.rem_euclid(DAY)));
                let r = AgentStatusRecord {
                    agent,
                    at: now,
                    status: STATUSES[status],
                };
                stored.seq += 1;
                stored.statuses.push((r, stored.seq));
                live.handle_agent_status(&r);
            }
            Step::Threshold { queue, secs } => {
                stored.config_changed_at = Some(now);
                stored.sl_ms[queue] = secs * 1000;
                live.set_queue(QUEUES[queue], secs * 1000, members(QUEUES[queue]));
            }
            Step::ShortAbandon { secs } => {
                stored.config_changed_at = Some(now);
                stored.short_ms = secs * 1000;
                live.set_short_abandon_ms(secs * 1000);
            }
        }
        let day_start = now - now.rem_euclid(DAY);
        let want = stored.recompute(day_start, now);
        for (i, &q) in QUEUES.iter().enumerate() {
            let got = live.kpis(q, now).unwrap();
            prop_assert_eq!(&got, &want[i], "queue {} after step {} ({:?})", q, n, s);
        }
        // Today's grains add up to the recompute's 15- and 60-minute reports.
        let grains = live.grains(now);
        for minutes in [15, 60] {
            let q = query(day_start, now + 1, now, minutes);
            let want = stored.report(day_start, now + 1, now, minutes);
            prop_assert_eq!(
                regroup(&q, &QUEUES, &grains),
                want,
                "today by {} min after step {}",
                minutes,
                n
            );
        }
        // A finished day's stored grains, with their corrections, are its report now —
        // unless a threshold changed since (stored intervals keep their day's thresholds).
        let yesterday = day_start - DAY;
        if !stored_grains.is_empty() && !stored.changed_since(yesterday) {
            let q = query(yesterday, day_start, now, 15);
            let want = stored.report(yesterday, day_start, now, 15);
            prop_assert_eq!(
                regroup(&q, &QUEUES, &stored_grains),
                want,
                "yesterday after step {}",
                n
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_live_figures_are_the_recompute(steps in prop::collection::vec(step(), 1..150)) {
        run(DAY0 + 9 * 3600 * 1000, &steps)?;
    }

    /// Starting an hour before midnight, most runs cross into the next day with contacts
    /// and statuses in progress.
    #[test]
    fn across_midnight_the_day_starts_again(steps in prop::collection::vec(step(), 1..150)) {
        run(DAY0 + DAY - 3600 * 1000, &steps)?;
    }

    /// The same without configuration changes, so that the finished day's stored grains
    /// and their corrections are compared with the recompute after every step.
    #[test]
    fn a_finished_day_is_stored_and_corrected(steps in prop::collection::vec(step(), 1..150)) {
        let steps: Vec<Step> = steps
            .into_iter()
            .filter(|s| matches!(s, Step::Event { .. } | Step::Status { .. }))
            .collect();
        run(DAY0 + DAY - 3600 * 1000, &steps)?;
    }
}

#[test]
fn a_day_of_calls_reads_as_the_recompute_says() {
    // One answered call with hold and wrap-up, one abandon, one short abandon.
    let t = DAY0 + 9 * 3600 * 1000;
    let mut live = DayFigures::new(DAY0, 5_000);
    live.set_queue(10, 20_000, vec![1]);
    let ev = |contact, at, kind, agent| EventRecord {
        contact,
        at: t + at,
        kind,
        queue: Some(10),
        agent,
    };
    live.handle_agent_status(&AgentStatusRecord {
        agent: 1,
        at: t,
        status: AgentStatus::Available,
    });
    for e in [
        ev(1, 0, EventKind::Queued, None),
        ev(1, 12_000, EventKind::Connected, Some(1)),
        ev(1, 20_000, EventKind::Held, Some(1)),
        ev(1, 30_000, EventKind::Resumed, Some(1)),
        ev(1, 72_000, EventKind::Ended, Some(1)),
        ev(1, 102_000, EventKind::AcwDone, Some(1)),
        ev(2, 1_000, EventKind::Queued, None),
        ev(2, 41_000, EventKind::Abandoned, None),
        ev(3, 2_000, EventKind::Queued, None),
        ev(3, 4_000, EventKind::Abandoned, None),
    ] {
        live.handle_event(&e);
    }
    let k = live.kpis(10, t + 102_000).unwrap();
    assert_eq!(
        (k.offered, k.answered, k.abandoned, k.short_abandoned),
        (2, 1, 1, 1)
    );
    assert_eq!(k.answer_rate, Some(0.5));
    assert_eq!(k.service_level, Some(0.5)); // answered in 12 s of Y = 20 s
    assert_eq!(k.asa_secs, Some(12.0));
    assert_eq!(k.aht_secs, Some(90.0)); // 50 s talk + 10 s hold + 30 s wrap-up
    assert_eq!(live.sizes(), (0, 3), "finished contacts leave the open set");
}
