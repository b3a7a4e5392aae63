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
