//! Routing benchmark: a replayable synthetic center (10,000 agents, 200 skills, 1,000 queues,
//! Poisson arrivals, breaks, abandons) driven through the indexed router and, over the same
//! stretch of the same trace, through the naive reference router.
//!
//! `cargo bench -p tsunagu-acd --bench routing` (add `-- --quick` for a shorter run).
//! Prints inputs/s and per-input latency percentiles for both and their ratio.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tsunagu_acd::sim::{Probe, Simulation, Workload};
use tsunagu_acd::{matcher::NaiveMatcher, Router, RouterConfig};

struct Timing {
    hist: Histogram<u64>,
    total: Duration,
    calls: u64,
}

impl Timing {
    fn new() -> Self {
        Timing {
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap(),
            total: Duration::ZERO,
            calls: 0,
        }
    }

    fn line(&self, name: &str, offers: u64) -> String {
        let secs = self.total.as_secs_f64();
        format!(
            "{name:<8} inputs {:>9}  offers {:>8}  router time {:>8.3} s  inputs/s {:>12.0}  offers/s {:>11.0}  p50 {:>9.2} µs  p99 {:>9.2} µs  max {:>10.2} µs",
            self.calls,
            offers,
            secs,
            self.calls as f64 / secs,
            offers as f64 / secs,
            self.hist.value_at_quantile(0.50) as f64 / 1000.0,
            self.hist.value_at_quantile(0.99) as f64 / 1000.0,
            self.hist.max() as f64 / 1000.0,
        )
    }
}

impl Probe for Timing {
    fn input<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        let d = t.elapsed();
        self.total += d;
        self.calls += 1;
        self.hist.record((d.as_nanos() as u64).max(1)).unwrap();
        r
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let workload = Workload::large();
    let (warmup_min, naive_inputs, long_min) = if quick {
        (10, 300, 10)
    } else {
        (30, 2_000, 60)
    };
    println!(
        "workload: {} agents, {} skills, {} queues, {:.0} arrivals/s, mean talk {:.0} s, wrap-up {} s",
        workload.agents, workload.skills, workload.queues, workload.arrivals_per_s, workload.mean_talk_s, workload.wrap_up_s
    );

    let t = Instant::now();
    let mut fast = Router::new(RouterConfig::default());
    let mut sim = Simulation::new(workload, &mut fast);
    println!("setup: {:.2} s", t.elapsed().as_secs_f64());

    // Warm the center up to a steady state with the indexed router.
    let t = Instant::now();
    let mut warm = Timing::new();
    sim.run_until(&mut fast, &mut warm, sim.now() + warmup_min * 60_000);
    let snapshots = fast.queue_snapshots();
    let waiting: u32 = snapshots.iter().map(|s| s.1.waiting).sum();
    println!(
        "warm-up: {warmup_min} simulated min in {:.2} s wall; {} contacts in the router, {} waiting; {:?}",
        t.elapsed().as_secs_f64(),
        fast.contact_count(),
        waiting,
        sim.stats
    );

    // The same stretch of the trace through both routers, from the same state.
    let (fast_start, sim_start) = (fast.clone(), sim.clone());
    let mut naive = fast_start.clone().with_matcher::<NaiveMatcher>();
    let mut naive_sim = sim_start.clone();
    let mut naive_t = Timing::new();
    let offers0 = naive_sim.stats.offers;
    while naive_t.calls < naive_inputs {
        naive_sim.step(&mut naive, &mut naive_t);
    }
    let naive_offers = naive_sim.stats.offers - offers0;
    let stop_at = naive_sim.now();

    let mut same = fast_start;
    let mut same_sim = sim_start;
    let mut same_t = Timing::new();
    while same_sim.now() < stop_at || same_t.calls < naive_t.calls {
        same_sim.step(&mut same, &mut same_t);
    }
    let same_offers = same_sim.stats.offers - offers0;
    let identical = same_sim.stats.digest == naive_sim.stats.digest;

    println!(
        "\nsame {} inputs of the trace, same starting state:",
        naive_t.calls
    );
    println!("{}", same_t.line("indexed", same_offers));
    println!("{}", naive_t.line("naive", naive_offers));
    println!("decisions identical: {identical}");
    let thr = (same_t.calls as f64 / same_t.total.as_secs_f64())
        / (naive_t.calls as f64 / naive_t.total.as_secs_f64());
    println!(
        "ratio indexed/naive: throughput {:.0}x, p50 {:.0}x, p99 {:.0}x",
        thr,
        naive_t.hist.value_at_quantile(0.5) as f64 / same_t.hist.value_at_quantile(0.5) as f64,
        naive_t.hist.value_at_quantile(0.99) as f64 / same_t.hist.value_at_quantile(0.99) as f64,
    );

    // A long run of the indexed router alone.
    let mut long_t = Timing::new();
    let offers0 = sim.stats.offers;
    let t = Instant::now();
    sim.run_until(&mut fast, &mut long_t, sim.now() + long_min * 60_000);
    println!("\nindexed router alone, {long_min} more simulated minutes ({:.2} s wall incl. simulation):", t.elapsed().as_secs_f64());
    println!("{}", long_t.line("indexed", sim.stats.offers - offers0));
    println!("sim totals: {:?}", sim.stats);
    assert!(identical, "the naive and indexed routers disagreed");
}
