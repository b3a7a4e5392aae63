//! The digital twin tells what the center would report: its live figures equal the
//! recompute over the timeline it made, agree with the simulation's own counts, and come
//! out the same for the same seed.

use tsunagu_acd::sim::{Workload, START};
use tsunagu_domain::kpi::{queue_kpis, visits_from_events, KpiQuery, QueueSpec};
use tsunagu_wfm::twin::{Twin, SHORT_ABANDON_MS, SL_THRESHOLD_MS};

const HOURS: i64 = 3_600_000;

fn busy() -> Workload {
    Workload {
        arrivals_per_s: 0.5,
        ..Workload::small()
    }
}

#[test]
fn the_twins_figures_are_the_recompute_of_its_timeline() {
    let w = busy();
    let queues = w.queues as i64;
    let mut twin = Twin::new(w);
    twin.keep_events();
    twin.run_until(START + 3 * HOURS);
    assert_eq!(twin.refused, 0, "the contact core refused a simulated fact");
    let mut events = twin.kept_events().to_vec();
    events.sort_by_key(|e| e.contact); // stable: each contact's own order stays
    let specs: Vec<QueueSpec> = (1..=queues)
        .map(|q| QueueSpec {
            queue: q,
            sl_threshold_ms: SL_THRESHOLD_MS,
            agents: twin.members(q),
        })
        .collect();
    let now = twin.now();
    let q = KpiQuery {
        from: START,
        to: now + 1,
        interval_minutes: 0,
        tz: jiff::tz::TimeZone::UTC,
        short_abandon_ms: SHORT_ABANDON_MS,
        now,
    };
    // The recompute reads each agent's states in a row (stable: each agent's own order).
    let mut statuses = twin.kept_statuses().to_vec();
    statuses.sort_by_key(|s| s.agent);
    let want = queue_kpis(&q, &specs, &visits_from_events(&events), &statuses);
    let mut offered = 0;
    for k in want {
        let got = twin.kpis(k.queue).unwrap();
        assert_eq!(
            (
                got.offered,
                got.answered,
                got.abandoned,
                got.short_abandoned,
                got.overflowed
            ),
            (
                k.kpis.offered,
                k.kpis.answered,
                k.kpis.abandoned,
                k.kpis.short_abandoned,
                k.kpis.overflowed
            ),
            "queue {}",
            k.queue
        );
        assert_eq!(
            (got.service_level, got.asa_secs, got.aht_secs),
            (k.kpis.service_level, k.kpis.asa_secs, k.kpis.aht_secs)
        );
        // The queue's agents' time: occupancy and the rest, as the recompute reads it.
        assert_eq!(
            (got.occupancy, got.idle_secs, got.handling_secs),
            (k.kpis.occupancy, k.kpis.idle_secs, k.kpis.handling_secs),
            "queue {}",
            k.queue
        );
        assert!(got.occupancy.is_some(), "queue {} has agents", k.queue);
        offered += got.offered;
    }
    assert!(offered > 1000, "a busy morning: {offered} offered");
}

#[test]
fn the_twins_figures_count_what_the_simulation_did() {
    let w = busy();
    let queues = w.queues as i64;
    let mut twin = Twin::new(w);
    twin.run_until(START + 2 * HOURS);
    let s = twin.sim_stats().clone();
    let sum = |f: fn(&tsunagu_domain::kpi::Kpis) -> u64| -> u64 {
        (1..=queues).map(|q| f(&twin.kpis(q).unwrap())).sum()
    };
    assert_eq!(
        sum(|k| k.answered),
        s.accepted,
        "every accepted contact answered once"
    );
    assert_eq!(sum(|k| k.abandoned + k.short_abandoned), s.abandoned);
    assert_eq!(sum(|k| k.timed_out), s.max_wait);
    assert_eq!(sum(|k| k.overflowed), s.overflowed);
    assert_eq!(twin.refused, 0);
}

#[test]
fn the_same_seed_gives_the_same_figures() {
    let run = || {
        let mut t = Twin::new(busy());
        t.run_until(START + HOURS);
        (1..=busy().queues as i64)
            .map(|q| t.kpis(q).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}
