//! The switch re-arms only the flow deadlines of the calls a step touched. The full-scan
//! rule it replaced (every call against every armed timer, after every input) is kept as
//! the reference: under the same random load both must produce the same outputs, in the
//! same order, and want the same next deadline.

use std::sync::Arc;

use tsunagu_flow::{load, Checks};
use tsunagu_voice::sim::{Load, FLOW};
use tsunagu_voice::*;

const T: i64 = 1_767_571_200_000;

fn pair(seed: u64) -> (Load, Load) {
    let flow = Arc::new(load("load.toml", FLOW, &Checks::none()).unwrap());
    let mut touched = Load::new(Switch::new(SwitchConfig::default()), flow.clone(), seed, T);
    let mut scan = Load::new(
        Switch::new(SwitchConfig::default()).with_full_scan(),
        flow,
        seed,
        T,
    );
    touched.record = Some(Vec::new());
    scan.record = Some(Vec::new());
    (touched, scan)
}

#[test]
fn touched_calls_rearm_exactly_as_the_full_scan() {
    for seed in 1..=6 {
        let (mut a, mut b) = pair(seed);
        a.fill(150);
        b.fill(150);
        for i in 0..4000 {
            a.step();
            b.step();
            assert_eq!(
                a.sw.poll_timeout(),
                b.sw.poll_timeout(),
                "seed {seed}, step {i}: next deadline"
            );
        }
        let (ra, rb) = (a.record.take().unwrap(), b.record.take().unwrap());
        assert_eq!(ra.len(), rb.len(), "seed {seed}: output count");
        if let Some(i) = (0..ra.len()).find(|&i| ra[i] != rb[i]) {
            panic!(
                "seed {seed}: output {i} differs:\n touched: {:?}\n scan:    {:?}",
                ra[i], rb[i]
            );
        }
        // The load went through the menu's deadline into the queue, and callers left.
        let enqueued = ra
            .iter()
            .filter(|o| matches!(o, Out::Enqueue { .. }))
            .count();
        let ended = ra
            .iter()
            .filter(|o| matches!(o, Out::EndContact { .. }))
            .count();
        assert!(
            enqueued > 100 && ended > 100,
            "seed {seed}: {enqueued} enqueued, {ended} ended"
        );
        // The switch never applied more than the inputs the load counted.
        assert!(a.inputs > 4000);
    }
}

/// The switch is deterministic: the same inputs give the same outputs in the same order,
/// even where it walks all its calls (stopping: every call hung up).
#[test]
fn the_same_inputs_give_the_same_outputs() {
    let run = || {
        let (mut a, _) = pair(7);
        a.fill(100);
        for _ in 0..2000 {
            a.step();
        }
        a.sw.end_all("shutdown", a.now);
        while let Some(o) = a.sw.poll_output() {
            a.record.as_mut().unwrap().push(o);
        }
        a.record.take().unwrap()
    };
    let first = run();
    assert!(
        first
            .iter()
            .filter(|o| matches!(o, Out::SipHangup { .. }))
            .count()
            >= 100
    );
    assert!(first == run(), "two runs of the same inputs differ");
}
