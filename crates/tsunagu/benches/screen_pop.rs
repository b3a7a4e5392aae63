//! Screen-pop benchmark: the customer lookup by phone number through the HTTP API, with
//! 1,000,000 stored customers (and 200,000 past contacts for their timelines).
//!
//! `cargo bench -p tsunagu --bench screen_pop [-- --pg] [-- --customers N --lookups N]`
//!
//! Prints p50/p99/max API latency and throughput, and, as a baseline measured in the same
//! run, the same lookup query run directly against the database with and without its index.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use tsunagu_api::{HttpConfig, ServerConfig};
use tsunagu_domain::role::Role;
use tsunagu_store::DbKind;

use common::{arg, bench_tenant, db_kind};

/// The i-th customer's number: 090-1xxx-xxxx style mobile numbers, all valid in Japan.
fn phone(i: usize) -> String {
    format!("+81901{:07}", i)
}

fn main() {
    let customers = arg("--customers", 1_000_000);
    let lookups = arg("--lookups", 20_000);
    let concurrency = arg("--concurrency", 8);
    let kind = db_kind();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(kind, customers, lookups, concurrency));
}

async fn run(kind: DbKind, customers: usize, lookups: usize, concurrency: usize) {
    println!("screen-pop benchmark on {kind:?}: {customers} customers, {lookups} lookups, {concurrency} concurrent clients");
    let (_db, store, tenant) = bench_tenant(kind).await;
    let (user, _) = tsunagu::provision::create_user(
        &store,
        &tenant,
        tsunagu::provision::NewUser {
            username: "bench",
            display_name: "bench",
            role: Role::Agent,
            password: "bench-password",
            agent: Some(Default::default()),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        tsunagu_domain::phone::normalize_phone("090-1000-0042", "JP").unwrap(),
        phone(42)
    );

    // Bulk load with multi-row inserts (the API path is what is measured, not the import).
    let t0 = Instant::now();
    let now = tsunagu::provision::now_ms();
    let queue_id = store.next_id(now);
    sqlx::query(
        "INSERT INTO queues (id, tenant_id, name, display_name, strategy, priority, sl_target_pct, sl_threshold_secs, \
         no_answer_timeout_secs, max_no_answers, requirements, created_at, updated_at) \
         VALUES ($1, $2, 'q', 'q', 'longest-idle', 0, 80, 20, 20, 3, '[]', $3, $3)",
    )
    .bind(queue_id)
    .bind(tenant.id)
    .bind(now)
    .execute(store.pool())
    .await
    .unwrap();
    let base_id = store.next_id(now) + 1_000_000;
    let chunk = 500;
    let mut i = 0;
    while i < customers {
        let n = chunk.min(customers - i);
        let mut tx = store.pool().begin().await.unwrap();
        let mut c = String::from("INSERT INTO customers (id, tenant_id, display_name, attributes, created_at, updated_at) VALUES ");
        let mut p =
            String::from("INSERT INTO customer_phones (tenant_id, e164, customer_id) VALUES ");
        let mut e =
            String::from("INSERT INTO customer_emails (tenant_id, email, customer_id) VALUES ");
        let mut k = String::from(
            "INSERT INTO contacts (id, tenant_id, channel, direction, status, queue_id, customer_id, priority, attributes, \
             requirements, created_at, updated_at) VALUES ",
        );
        let mut contacts = 0;
        for j in i..i + n {
            let id = base_id + j as i64 * 4;
            let sep = if j == i { "" } else { "," };
            c.push_str(&format!(
                "{sep}({id},{},'顧客 {j}','{{}}',{now},{now})",
                tenant.id
            ));
            p.push_str(&format!("{sep}({},'{}',{id})", tenant.id, phone(j)));
            e.push_str(&format!("{sep}({},'c{j}@example.jp',{id})", tenant.id));
            if j % 10 == 0 {
                for h in 1..=2 {
                    let ksep = if contacts == 0 { "" } else { "," };
                    k.push_str(&format!(
                        "{ksep}({},{},'voice','inbound','completed',{queue_id},{id},0,'{{}}','[]',{},{})",
                        id + h,
                        tenant.id,
                        now - h * 86_400_000,
                        now - h * 86_400_000
                    ));
                    contacts += 1;
                }
            }
        }
        for q in [&c, &p, &e] {
            sqlx::query(q).execute(&mut *tx).await.unwrap();
        }
        if contacts > 0 {
            sqlx::query(&k).execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
        i += n;
    }
    if kind == DbKind::Postgres {
        sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    }
    println!(
        "loaded {} customers in {:.1} s",
        store.customer_count(tenant.id).await.unwrap(),
        t0.elapsed().as_secs_f64()
    );

    // Baseline in the same run: the lookup query straight on the database, with its index and
    // with the index defeated (`e164 || ''` cannot use it), i.e. a scan.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let direct = |indexed: bool| {
        let filter = if indexed {
            "p.e164 = $2"
        } else {
            "p.e164 || '' = $2"
        };
        format!(
            "SELECT c.id FROM customer_phones p JOIN customers c ON c.id = p.customer_id WHERE p.tenant_id = $1 AND {filter}"
        )
    };
    let db_time = |q: String, n: usize, rng: &mut rand::rngs::StdRng| {
        let store = store.clone();
        let numbers: Vec<String> = (0..n).map(|_| phone(rng.gen_range(0..customers))).collect();
        async move {
            let mut h = Histogram::<u64>::new(3).unwrap();
            for num in numbers {
                let t = Instant::now();
                let rows = sqlx::query(&q)
                    .bind(tenant.id)
                    .bind(&num)
                    .fetch_all(store.pool())
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 1);
                h.record(t.elapsed().as_micros() as u64).unwrap();
            }
            h
        }
    };
    let indexed = db_time(direct(true), 2000, &mut rng).await;
    let scan = db_time(direct(false), 20, &mut rng).await;

    // The API.
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
    let base = format!("http://{}", server.http_addr);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let login: serde_json::Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({ "username": user.username, "password": "bench-password" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = Arc::new(login["token"].as_str().unwrap().to_string());
    let run_lookups = |n: usize, seed: u64| {
        let client = client.clone();
        let base = base.clone();
        let token = token.clone();
        async move {
            let per = n / concurrency;
            let mut tasks = Vec::new();
            for w in 0..concurrency {
                let (client, base, token) = (client.clone(), base.clone(), token.clone());
                tasks.push(tokio::spawn(async move {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(seed + w as u64);
                    let mut h = Histogram::<u64>::new(3).unwrap();
                    let mut hits = 0;
                    for _ in 0..per {
                        // 90 % known numbers typed the national way, 10 % unknown callers.
                        let j = rng.gen_range(0..customers);
                        let known = rng.gen_range(0..10) != 0;
                        let typed = if known {
                            format!("090-1{:03}-{:04}", j / 10_000, j % 10_000)
                        } else {
                            "090-9999-0000".into()
                        };
                        let t = Instant::now();
                        let resp = client
                            .get(format!("{base}/api/customers/lookup"))
                            .query(&[("phone", typed.as_str()), ("history", "20")])
                            .bearer_auth(token.as_str())
                            .send()
                            .await
                            .unwrap();
                        assert!(resp.status().is_success());
                        let body: serde_json::Value = resp.json().await.unwrap();
                        h.record(t.elapsed().as_micros() as u64).unwrap();
                        if known {
                            assert_eq!(body[0]["customer"]["phones"][0]["number"], phone(j));
                            hits += 1;
                        } else {
                            assert_eq!(body, serde_json::json!([]));
                        }
                    }
                    (h, hits)
                }));
            }
            let mut all = Histogram::<u64>::new(3).unwrap();
            let mut hits = 0;
            for t in tasks {
                let (h, k) = t.await.unwrap();
                all.add(h).unwrap();
                hits += k;
            }
            (all, hits)
        }
    };
    run_lookups(1000.min(lookups), 1).await;
    let t = Instant::now();
    let (api, hits) = run_lookups(lookups, 99).await;
    let wall = t.elapsed();

    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!("\nAPI GET /api/customers/lookup?phone=… ({} lookups, {hits} found, {concurrency} clients):", api.len());
    println!(
        "  p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms   throughput {:.0} lookups/s",
        ms(&api, 0.5),
        ms(&api, 0.99),
        api.max() as f64 / 1000.0,
        api.len() as f64 / wall.as_secs_f64()
    );
    println!(
        "database query alone, indexed:   p50 {:.3} ms  p99 {:.3} ms",
        ms(&indexed, 0.5),
        ms(&indexed, 0.99)
    );
    println!(
        "database query alone, full scan: p50 {:.1} ms  p99 {:.1} ms",
        ms(&scan, 0.5),
        ms(&scan, 0.99)
    );
    println!(
        "ratio scan/indexed (p50): {:.0}x",
        ms(&scan, 0.5) / ms(&indexed, 0.5).max(0.001)
    );
    server.shutdown().await;
    let _ = Duration::ZERO;
}
