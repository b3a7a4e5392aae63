//! Switch benchmark: the sans-IO switch alone (no SIP, media or center) under the synthetic
//! load of `tsunagu_voice::sim` with 10,000 calls up at once — callers in the menu (a flow
//! deadline each) and in the queue (an announcement deadline each), prompts ending, keys,
//! hang-ups and new arrivals, time passing — once with the switch's touched-calls deadline
//! rule and once with the full-scan reference it replaced, in the same run.
//!
//! `cargo bench -p tsunagu-voice --bench switch` (`-- --calls N` to change the size,
//! `-- --quick` for a shorter run). Prints inputs/s and per-input latency percentiles for
//! both and their ratio. No figure is asserted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tsunagu_flow::{load, Checks};
use tsunagu_voice::sim::{Load, FLOW};
use tsunagu_voice::{Switch, SwitchConfig};

const T: i64 = 1_767_571_200_000;

struct Run {
    name: &'static str,
    setup: Duration,
    inputs: u64,
    total: Duration,
    /// Time per input, ns (a step's time over the inputs it applied).
    hist: Histogram<u64>,
}

impl Run {
    fn inputs_per_sec(&self) -> f64 {
        self.inputs as f64 / self.total.as_secs_f64()
    }

    fn p(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }

    fn line(&self) -> String {
        format!(
            "{:<10} setup {:>7.2} s  inputs {:>8}  time {:>8.3} s  inputs/s {:>11.0}  p50 {:>9.2} µs  p99 {:>10.2} µs  max {:>10.2} µs",
            self.name,
            self.setup.as_secs_f64(),
            self.inputs,
            self.total.as_secs_f64(),
            self.inputs_per_sec(),
            self.p(0.50),
            self.p(0.99),
            self.hist.max() as f64 / 1000.0,
        )
    }
}

/// A load of `calls` calls on `sw` (same seed for every run: the same inputs).
fn loaded(sw: Switch, calls: usize) -> (Load, Duration) {
    let flow = Arc::new(load("load.toml", FLOW, &Checks::none()).unwrap());
    let mut l = Load::new(sw, flow, 42, T);
    let started = Instant::now();
    l.fill(calls);
    (l, started.elapsed())
}

/// `steps` steps of the load, timed.
fn run(name: &'static str, l: &mut Load, setup: Duration, calls: usize, steps: usize) -> Run {
    let mut hist = Histogram::new_with_bounds(1, 600_000_000_000, 3).unwrap();
    let before = l.inputs;
    let mut total = Duration::ZERO;
    for _ in 0..steps {
        let n0 = l.inputs;
        let t0 = Instant::now();
        l.step();
        let dt = t0.elapsed();
        total += dt;
        let n = (l.inputs - n0).max(1);
        let per = (dt.as_nanos() as u64 / n).max(1);
        for _ in 0..n {
            hist.record(per).unwrap();
        }
    }
    assert!(l.calls() == calls, "the load keeps {calls} calls up");
    Run {
        name,
        setup,
        inputs: l.inputs - before,
        total,
        hist,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let calls = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(10_000usize);
    let (steps, stretch) = if quick { (20_000, 50) } else { (200_000, 300) };
    println!(
        "switch benchmark: {calls} calls up, every caller in the menu at the start; \
         touched-calls rule vs the full-scan reference over the same first {stretch} steps"
    );
    let (mut t, t_setup) = loaded(Switch::new(SwitchConfig::default()), calls);
    let touched = run("touched", &mut t, t_setup, calls, stretch);
    println!("{}", touched.line());
    // Loaded under the touched rule (the same state: see tests/deadlines.rs), then timed
    // under the reference — loading 10,000 calls under it alone takes minutes.
    let (mut s, s_setup) = loaded(Switch::new(SwitchConfig::default()), calls);
    s.sw.set_full_scan(true);
    let scan = run("full-scan", &mut s, s_setup, calls, stretch);
    println!("{}", scan.line());
    println!(
        "ratio (touched / full-scan), same stretch: inputs/s {:.0}×, p99 per input {:.5}× ({:.2} µs vs {:.2} µs)",
        touched.inputs_per_sec() / scan.inputs_per_sec(),
        touched.p(0.99) / scan.p(0.99),
        touched.p(0.99),
        scan.p(0.99),
    );
    let long = run("sustained", &mut t, Duration::ZERO, calls, steps);
    println!("{} (touched, the {steps} steps after)", long.line());
}
