//! Live-figures benchmark: the wallboard's `GET /api/kpi/realtime` with a busy day stored
//! (100,000 contacts since local midnight by default), against the recompute it replaced —
//! today's report recomputed from the stored events, `GET /api/kpi/queues?interval=0`,
//! which runs the very code `realtime` ran before — measured in the same run.
//!
//! `cargo bench -p tsunagu --bench live_figures [-- --contacts N --requests N --pg]`
//!
//! Prints p50/p99 per request for both, with one client and with four at once, the time the
//! tenant takes to read its day at start-up, and the process's resident memory before and
//! after 1,000 wallboard requests. Checks on the way that both give the same figures.

mod common;

use std::time::Instant;

use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use tsunagu_api::{HttpConfig, ServerConfig};
use tsunagu_domain::kpi::start_of_day;
use tsunagu_domain::role::Role;
use tsunagu_store::DbKind;

use common::{arg, bench_tenant, db_kind};

/// Resident memory of this process (the server runs in it), MB.
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let contacts = arg("--contacts", 100_000);
    let requests = arg("--requests", 1_000);
    let history_days = arg("--history-days", 30) as i64;
    let history_per_day = arg("--history-per-day", 20_000);
    let kind = db_kind();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(kind, contacts, requests, history_days, history_per_day));
}

const QUEUES: usize = 4;
const AGENTS: usize = 20;

async fn run(
    kind: DbKind,
    contacts: usize,
    requests: usize,
    history_days: i64,
    history_per_day: usize,
) {
    println!("live-figures benchmark on {kind:?}: {contacts} contacts today, {history_days} days of history, {requests} wallboard requests");
    let (_db, store, tenant) = bench_tenant(kind).await;
    tsunagu::provision::create_user(
        &store,
        &tenant,
        tsunagu::provision::NewUser {
            username: "sv",
            display_name: "sv",
            role: Role::Supervisor,
            password: "bench-password",
            agent: None,
        },
    )
    .await
    .unwrap();
    let mut agents = Vec::new();
    for i in 0..AGENTS {
        let (_, agent) = tsunagu::provision::create_user(
            &store,
            &tenant,
            tsunagu::provision::NewUser {
                username: &format!("a{i}"),
                display_name: &format!("a{i}"),
                role: Role::Agent,
                password: "bench-password",
                agent: Some(Default::default()),
            },
        )
        .await
        .unwrap();
        agents.push(agent.unwrap().agent.id);
    }

    let now = tsunagu::provision::now_ms();
    let day_start = start_of_day(now, &tenant.time_zone);
    // The day so far; at least an hour so that the calls have room (before 01:00 local
    // the "day" starts an hour before midnight and the early ones fall outside today).
    let span = (now - day_start).max(3_600_000);
    let mut queues = Vec::new();
    for q in 0..QUEUES {
        let id = store.next_id(now);
        sqlx::query(
            "INSERT INTO queues (id, tenant_id, name, display_name, strategy, priority, sl_target_pct, sl_threshold_secs, \
             no_answer_timeout_secs, max_no_answers, requirements, created_at, updated_at) \
             VALUES ($1, $2, $3, $3, 'longest-idle', 0, 80, 20, 20, 3, '[]', $4, $4)",
        )
        .bind(id)
        .bind(tenant.id)
        .bind(format!("q{q}"))
        .bind(now)
        .execute(store.pool())
        .await
        .unwrap();
        queues.push(id);
    }

    // Bulk load: today's contacts, then a month of history (fewer a day: the month's
    // report is what is measured, not the import).
    let t0 = Instant::now();
    let mut seed = Seed {
        store: store.clone(),
        tenant: tenant.id,
        queues: queues.clone(),
        agents: agents.clone(),
        rng: rand::rngs::StdRng::seed_from_u64(11),
        next_id: store.next_id(now) + 1_000_000,
        events: 0,
    };
    seed.contacts(contacts, now - span, now - 600_000).await;
    seed.agent_states(now - span, now).await;
    let mut day = day_start;
    for _ in 0..history_days {
        let prev = start_of_day(day - 1, &tenant.time_zone);
        seed.contacts(history_per_day, prev, day - 600_000).await;
        seed.agent_states(prev, day).await;
        day = prev;
    }
    let events_total = seed.events;
    if kind == DbKind::Postgres {
        sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    }
    println!(
        "loaded {contacts} contacts today and {history_days} days × {history_per_day} before, {events_total} events in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let month_from = day;

    let rss_empty = rss_mb();
    let t0 = Instant::now();
    let server = tsunagu_api::start(
        ServerConfig {
            http_addr: "127.0.0.1:0".parse().unwrap(),
            http: HttpConfig::default(),
            telephony: None,
        },
        store.clone(),
    )
    .await
    .unwrap();
    let started = t0.elapsed();
    // The housekeeping task stores the past days' intervals in the background (all but
    // yesterday, which the tenant stores as it ends — here the first report does); wait
    // for it so that it does not share the machine with what is measured.
    let t_fill = Instant::now();
    let want_days = (history_days - 1).max(0) as usize;
    loop {
        let have = store
            .kpi_days(tenant.id, day - 86_400_000, day_start)
            .await
            .unwrap()
            .len();
        if have >= want_days {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    println!(
        "past days' intervals stored by the housekeeping backfill: {want_days} days in {:.1} s",
        t_fill.elapsed().as_secs_f64()
    );
    let base = format!("http://{}", server.http_addr);
    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({ "username": "sv", "password": "bench-password" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_string();
    // (status, body): a request the server gives up on answers 408 after its 30 s limit.
    let fetch = move |path: &'static str| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let resp = client
                .get(format!("{base}{path}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (
                status,
                resp.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let get = {
        let fetch = fetch.clone();
        move |path: &'static str| {
            let fetch = fetch.clone();
            async move {
                let (status, body) = fetch(path).await;
                assert!(status.is_success(), "{path}: {status}");
                body
            }
        }
    };
    println!(
        "start-up (tenant reads its day: {} contacts' events and agent states): {:.0} ms, RSS {:.0} → {:.0} MB",
        contacts,
        started.as_secs_f64() * 1000.0,
        rss_empty,
        rss_mb()
    );

    // Every request's time, answered or not, and how many were not answered (408).
    let time = |path: &'static str, n: usize, clients: usize| {
        let fetch = fetch.clone();
        async move {
            let mut tasks = Vec::new();
            for _ in 0..clients {
                let fetch = fetch.clone();
                tasks.push(tokio::spawn(async move {
                    let mut h = Histogram::<u64>::new(3).unwrap();
                    let mut failed = 0;
                    for _ in 0..n / clients {
                        let t = Instant::now();
                        if !fetch(path).await.0.is_success() {
                            failed += 1;
                        }
                        h.record(t.elapsed().as_micros() as u64).unwrap();
                    }
                    (h, failed)
                }));
            }
            let mut all = Histogram::<u64>::new(3).unwrap();
            let mut failed = 0;
            for t in tasks {
                let (h, f) = t.await.unwrap();
                all.add(h).unwrap();
                failed += f;
            }
            (all, failed)
        }
    };
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;

    let rss_before = rss_mb();
    let (live1, _) = time("/api/kpi/realtime", requests, 1).await;
    let rss_after = rss_mb();
    let (live4, _) = time("/api/kpi/realtime", requests, 4).await;
    let rss_after4 = rss_mb();
    // The same figures both ways.
    let live = get("/api/kpi/realtime").await;
    let report = get("/api/kpi/queues?interval=0").await;
    let mut offered = 0;
    for q in live["queues"].as_array().unwrap() {
        let want = report["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["queue_id"] == q["queue_id"])
            .unwrap();
        for k in [
            "offered",
            "answered",
            "abandoned",
            "interrupted",
            "service_level",
            "asa_secs",
            "aht_secs",
        ] {
            assert_eq!(q["today"][k], want["kpis"][k], "{k}");
        }
        offered += q["today"]["offered"].as_u64().unwrap();
    }
    println!("figures agree: {offered} offered today across {QUEUES} queues");

    let reps = (requests / 50).clamp(4, 20);
    let (recompute1, failed1) = time("/api/kpi/queues?interval=0&recompute=true", reps, 1).await;
    let (recompute4, failed4) =
        time("/api/kpi/queues?interval=0&recompute=true", reps.min(8), 4).await;
    let rss_recompute = rss_mb();

    println!();
    println!("                                   requests   p50 ms   p99 ms");
    println!(
        "realtime (live figures), 1 client  {:>8}  {:>7.2}  {:>7.2}",
        live1.len(),
        ms(&live1, 0.5),
        ms(&live1, 0.99)
    );
    println!(
        "realtime (live figures), 4 at once {:>8}  {:>7.2}  {:>7.2}",
        live4.len(),
        ms(&live4, 0.5),
        ms(&live4, 0.99)
    );
    println!(
        "recompute of today, 1 client       {:>8}  {:>7.2}  {:>7.2}  ({failed1} not answered: 408 after 30 s)",
        recompute1.len(),
        ms(&recompute1, 0.5),
        ms(&recompute1, 0.99)
    );
    println!(
        "recompute of today, 4 at once      {:>8}  {:>7.2}  {:>7.2}  ({failed4} not answered: 408 after 30 s)",
        recompute4.len(),
        ms(&recompute4, 0.5),
        ms(&recompute4, 0.99)
    );
    println!(
        "ratio (recompute ÷ live, p99, 1 client): {:.0}×",
        ms(&recompute1, 0.99) / ms(&live1, 0.99).max(0.001)
    );
    println!(
        "RSS: {rss_before:.0} MB before {} wallboard requests, {rss_after:.0} MB after, {rss_after4:.0} MB after {} more (4 at once); {rss_recompute:.0} MB after {} recomputes",
        live1.len(),
        live4.len(),
        recompute1.len() + recompute4.len()
    );

    // A month's 15-minute report: the kept intervals (the first request stores the days it
    // finds unstored, reading their events once) against the recompute.
    let month = format!("/api/kpi/queues?interval=15&from={month_from}");
    let month: &'static str = Box::leak(month.into_boxed_str());
    let month_again: &'static str = Box::leak(format!("{month}&recompute=true").into_boxed_str());
    let t = Instant::now();
    let first = get(month).await;
    let first_ms = t.elapsed().as_secs_f64() * 1000.0;
    let (kept, _) = time(month, 100, 1).await;
    let (over_http, failed) = time(month_again, 2, 1).await;
    // The recompute itself, in process (no request time limit), as the reference figures.
    let queue_rows = store.queues(tenant.id).await.unwrap();
    let until = tsunagu::provision::now_ms();
    let t = Instant::now();
    let reference = tsunagu_runtime::reports::queue_kpis(
        &store,
        &tenant,
        &queue_rows,
        month_from,
        until,
        0,
        until,
    )
    .await
    .unwrap();
    let recompute_ms = t.elapsed().as_secs_f64() * 1000.0;
    for k in &reference {
        let x = first["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["queue_id"] == k.queue)
            .unwrap();
        assert_eq!(x["kpis"]["offered"], k.kpis.offered, "month offered");
        assert_eq!(x["kpis"]["answered"], k.kpis.answered, "month answered");
        assert_eq!(x["kpis"]["abandoned"], k.kpis.abandoned, "month abandoned");
        assert_eq!(x["kpis"]["handled"], k.kpis.handled, "month handled");
    }
    println!();
    println!(
        "a month's 15-minute report ({} rows), the same totals both ways:",
        first["rows"].as_array().unwrap().len()
    );
    println!("  first request (stores yesterday, read from its events): {first_ms:.0} ms");
    println!(
        "  kept intervals + today live: {} requests, p50 {:.1} ms, p99 {:.1} ms",
        kept.len(),
        ms(&kept, 0.5),
        ms(&kept, 0.99)
    );
    println!("  recompute from the events, in process: {recompute_ms:.0} ms");
    println!(
        "  recompute=true over HTTP: {} requests, {failed} not answered within the 30 s limit (408)",
        over_http.len()
    );
    println!(
        "  ratio (recompute ÷ kept p50): {:.0}×",
        recompute_ms / ms(&kept, 0.5).max(0.001)
    );
    server.shutdown().await;
}

/// Writes synthetic contacts (queued, then answered with talk and wrap-up, abandoned or
/// interrupted) and agent states (available and busy in turn) with multi-row inserts.
struct Seed {
    store: tsunagu_store::Store,
    tenant: i64,
    queues: Vec<i64>,
    agents: Vec<i64>,
    rng: rand::rngs::StdRng,
    next_id: i64,
    events: usize,
}

impl Seed {
    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// `n` contacts entering a queue at random in [from, until).
    async fn contacts(&mut self, n: usize, from: i64, until: i64) {
        let chunk = 400;
        let mut i = 0;
        while i < n {
            let m = chunk.min(n - i);
            let mut c = String::from(
                "INSERT INTO contacts (id, tenant_id, channel, direction, status, queue_id, priority, attributes, \
                 requirements, created_at, updated_at) VALUES ",
            );
            let mut e = String::from(
                "INSERT INTO contact_events (id, tenant_id, contact_id, at, kind, queue_id, agent_id) VALUES ",
            );
            let mut first_event = true;
            for j in 0..m {
                let cid = self.id();
                let q = self.queues[self.rng.gen_range(0..QUEUES)];
                let a = self.agents[self.rng.gen_range(0..AGENTS)];
                let at = self.rng.gen_range(from..until.max(from + 1));
                let sep = if j == 0 { "" } else { "," };
                c.push_str(&format!(
                    "{sep}({cid},{},'voice','inbound','completed',{q},0,'{{}}','[]',{at},{at})",
                    self.tenant
                ));
                let wait = self.rng.gen_range(1_000..60_000);
                let roll = self.rng.gen_range(0..100);
                let mut evs: Vec<(i64, &str, Option<i64>)> = vec![(at, "queued", None)];
                if roll < 80 {
                    let talk = self.rng.gen_range(30_000..300_000);
                    evs.push((at + wait, "connected", Some(a)));
                    evs.push((at + wait + talk, "ended", Some(a)));
                    evs.push((at + wait + talk + 20_000, "acw_done", Some(a)));
                } else if roll < 95 {
                    evs.push((at + wait, "abandoned", None));
                } else {
                    evs.push((at + wait, "interrupted", None));
                }
                for (t, kind, agent) in evs {
                    let sep = if first_event { "" } else { "," };
                    first_event = false;
                    let agent = agent.map_or("NULL".to_string(), |a| a.to_string());
                    let eid = self.id();
                    e.push_str(&format!(
                        "{sep}({eid},{},{cid},{t},'{kind}',{q},{agent})",
                        self.tenant
                    ));
                    self.events += 1;
                }
            }
            let mut tx = self.store.pool().begin().await.unwrap();
            sqlx::query(&c).execute(&mut *tx).await.unwrap();
            sqlx::query(&e).execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
            i += m;
        }
    }

    /// Every agent available and busy in turn over [from, until).
    async fn agent_states(&mut self, from: i64, until: i64) {
        let mut s = String::from(
            "INSERT INTO agent_state_events (id, tenant_id, agent_id, at, presence, status) VALUES ",
        );
        let mut first = true;
        for a in self.agents.clone() {
            let mut t = from;
            let mut busy = false;
            while t < until {
                let sep = if first { "" } else { "," };
                first = false;
                let status = if busy { "busy" } else { "available" };
                let id = self.id();
                s.push_str(&format!(
                    "{sep}({id},{},{a},{t},'available','{status}')",
                    self.tenant
                ));
                busy = !busy;
                t += self.rng.gen_range(60_000..600_000);
            }
        }
        if !first {
            sqlx::query(&s).execute(self.store.pool()).await.unwrap();
        }
    }
}
