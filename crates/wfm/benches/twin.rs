//! Digital-twin benchmark: simulated contacts per wall-clock minute through the router
//! alone (`acd::sim`, the baseline) and through router + contact core + live KPI figures
//! (the twin), the same workload and seed, in the same run.
//!
//! `cargo bench -p tsunagu-wfm --bench twin [-- --minutes N]` (simulated minutes of the
//! large workload: 10,000 agents, 1,000 queues, 58 contacts/s).

use std::time::Instant;

use tsunagu_acd::sim::{NoProbe, Simulation, Workload, START};
use tsunagu_acd::{Router, RouterConfig};
use tsunagu_wfm::twin::Twin;

fn arg(name: &str, default: i64) -> i64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let minutes = arg("--minutes", 30);
    let until = START + minutes * 60_000;
    let w = Workload::large();
    println!(
        "digital twin: {} agents, {} queues, {} contacts/s, {minutes} simulated minutes",
        w.agents, w.queues, w.arrivals_per_s
    );

    let t = Instant::now();
    let mut router = Router::new(RouterConfig::default());
    let mut sim = Simulation::new(w.clone(), &mut router);
    let setup_router = t.elapsed().as_secs_f64();
    let t = Instant::now();
    sim.run_until(&mut router, &mut NoProbe, until);
    let router_s = t.elapsed().as_secs_f64();
    let arrivals = sim.stats.arrivals;

    let t = Instant::now();
    let mut twin = Twin::new(w);
    let setup_twin = t.elapsed().as_secs_f64();
    let t = Instant::now();
    twin.run_until(until);
    let twin_s = t.elapsed().as_secs_f64();
    assert_eq!(twin.sim_stats().arrivals, arrivals, "the same traffic");
    assert_eq!(
        twin.sim_stats().digest,
        sim.stats.digest,
        "the same routing decisions"
    );
    assert_eq!(twin.refused, 0);

    let per_min = |s: f64| arrivals as f64 / s * 60.0;
    println!(
        "contacts simulated: {arrivals} ({} timeline events in the twin)",
        twin.events
    );
    println!(
        "router alone (acd::sim):               {:>8.2} s  {:>12.0} contacts per wall-clock minute (setup {setup_router:.2} s)",
        router_s,
        per_min(router_s)
    );
    println!(
        "router + contact core + live figures:  {:>8.2} s  {:>12.0} contacts per wall-clock minute (setup {setup_twin:.2} s)",
        twin_s,
        per_min(twin_s)
    );
    println!(
        "ratio (twin ÷ router alone, time): {:.2}×",
        twin_s / router_s
    );
    let total: u64 = (1..=1000)
        .filter_map(|q| twin.kpis(q))
        .map(|k| k.offered)
        .sum();
    let answered: u64 = (1..=1000)
        .filter_map(|q| twin.kpis(q))
        .map(|k| k.answered)
        .sum();
    let within: u64 = (1..=1000)
        .filter_map(|q| twin.kpis(q))
        .map(|k| k.answered_within_sl)
        .sum();
    println!(
        "the twin's figures: {total} offered, {answered} answered, service level {:.1} % (Y = 20 s)",
        100.0 * within as f64 / total.max(1) as f64
    );
}
