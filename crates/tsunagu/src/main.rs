//! `tsunagu` — the one binary: serve a contact center, run the demo, migrate the database,
//! manage tenants, users and tokens.

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use tracing::info;
use tsunagu_api::{HttpConfig, ServerConfig};
use tsunagu_domain::role::Role;
use tsunagu_runtime::telephony::{TelephonyConfig, TrunkConfig};
use tsunagu_store::{redact_url, Store};

use tsunagu::config::{Config, SipSettings};
use tsunagu::{demo, provision};

#[derive(Parser)]
#[command(
    name = "tsunagu",
    version,
    about = "Tsunagu (つなぐ): an open-source contact center in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the contact center (config file + TSUNAGU_* environment overrides).
    Serve(ServeArgs),
    /// Run a ready-made demo center (created in the data folder on first start).
    Demo(DemoArgs),
    /// Create or update the database schema, then exit.
    Migrate(DbArgs),
    /// Check a configuration file and print the result.
    CheckConfig {
        /// The TOML file to check.
        file: PathBuf,
    },
    /// Manage tenants (one tenant = one contact center).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users (agents, supervisors, admins).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage integration (API) tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Args)]
struct ServeArgs {
    /// Configuration file (TOML). Without it: defaults and environment.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Listen address for HTTP (overrides the file).
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Database URL: sqlite://PATH or postgres://… (overrides the file).
    #[arg(long)]
    database: Option<String>,
}

#[derive(Args)]
struct DemoArgs {
    /// Folder for the demo's database.
    #[arg(long, default_value = "./tsunagu-data")]
    data: PathBuf,
    /// HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// Delete the demo data first and start afresh.
    #[arg(long)]
    reset: bool,
    /// SIP listen address (UDP and TCP); any number dialed there reaches the demo's flow.
    #[arg(long, default_value = "127.0.0.1:5060")]
    sip: SocketAddr,
    /// Run without telephony.
    #[arg(long, conflicts_with = "sip")]
    no_sip: bool,
    /// A carrier (SIP address) for outbound calls: click-to-call, callbacks, transfers out.
    #[arg(long)]
    carrier: Option<SocketAddr>,
    /// RTP port range, e.g. 20000-30000.
    #[arg(long, default_value = "20000-30000", value_parser = parse_ports)]
    rtp_ports: (u16, u16),
    /// Calls at once; a new call beyond is refused (SIP 503, HTTP 503).
    #[arg(long, default_value_t = tsunagu::config::DEFAULT_MAX_CALLS as u32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_calls: u32,
    /// Also listen for SIP over TLS here (needs --tls-cert and --tls-key).
    #[arg(long, requires_all = ["tls_cert", "tls_key"])]
    sip_tls: Option<SocketAddr>,
    /// Certificate chain for SIP over TLS (PEM).
    #[arg(long, requires = "sip_tls")]
    tls_cert: Option<PathBuf>,
    /// Private key for SIP over TLS (PEM).
    #[arg(long, requires = "sip_tls")]
    tls_key: Option<PathBuf>,
}

fn parse_ports(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or("expected LOW-HIGH, e.g. 20000-30000")?;
    let (a, b): (u16, u16) = (
        a.trim().parse().map_err(|_| "LOW is not a port")?,
        b.trim().parse().map_err(|_| "HIGH is not a port")?,
    );
    tsunagu::config::rtp_ports(a.into(), b.into())
}

#[derive(Args)]
struct DbArgs {
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Database URL (overrides the file and TSUNAGU_DATABASE_URL).
    #[arg(long)]
    database: Option<String>,
}

#[derive(Args)]
struct PasswordArgs {
    /// Read the password from the first line of standard input.
    #[arg(long, conflicts_with = "password_env")]
    password_stdin: bool,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant.
    Add {
        #[command(flatten)]
        db: DbArgs,
        /// Short machine name, e.g. acme.
        #[arg(long)]
        slug: String,
        /// Display name, e.g. "ACME お客様センター".
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "Asia/Tokyo")]
        time_zone: String,
        /// Region for national phone numbers.
        #[arg(long, default_value = "JP")]
        region: String,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; --agent also gives them an agent profile.
    Add {
        #[command(flatten)]
        db: DbArgs,
        /// Tenant slug (may be left out when there is one tenant).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        /// agent, supervisor or admin.
        #[arg(long, default_value = "agent")]
        role: String,
        /// Also create an agent profile (can take contacts).
        #[arg(long)]
        agent: bool,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// List users.
    List {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Set a user's password (revokes their sessions).
    Passwd {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        username: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Disable a user (logs them off, revokes tokens; history is kept).
    Disable {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        username: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token for a user; prints the secret once.
    Create {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        username: String,
        /// What the token is for.
        #[arg(long)]
        name: String,
    },
}

fn init_logging(level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{level},sqlx=warn,tower_http=warn,rsipstack=warn"
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load_config(path: Option<&PathBuf>) -> Result<Config> {
    Config::load(path.map(|p| p.as_path()), |k| std::env::var(k).ok())
        .map_err(|e| anyhow::anyhow!("{e}"))
}

async fn open_store(db: &DbArgs) -> Result<Store> {
    let mut cfg = load_config(db.config.as_ref())?;
    if let Some(url) = &db.database {
        cfg.database_url = url.clone();
    }
    ensure_sqlite_dir(&cfg.database_url)?;
    Store::open(&cfg.database_url)
        .await
        .with_context(|| format!("opening {}", redact_url(&cfg.database_url)))
}

/// SQLite creates the file but not its folder.
fn ensure_sqlite_dir(url: &str) -> Result<()> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = path.split('?').next().unwrap_or(path);
        if let Some(dir) = std::path::Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
        }
    }
    Ok(())
}

fn read_password(p: &PasswordArgs) -> Result<String> {
    let pw = if p.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else if let Some(var) = &p.password_env {
        std::env::var(var).with_context(|| format!("environment variable {var} is not set"))?
    } else if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("Password: ")?;
        let b = rpassword::prompt_password("Again: ")?;
        if a != b {
            bail!("the two passwords differ");
        }
        a
    } else {
        bail!("give the password with --password-stdin or --password-env VAR");
    };
    Ok(pw)
}

/// Telephony settings with the trunks' tenants found by slug.
async fn telephony_config(
    store: &Store,
    sip: &SipSettings,
    data_dir: &std::path::Path,
) -> Result<TelephonyConfig> {
    let tenants = store.tenants().await?;
    let mut trunks = Vec::new();
    for t in &sip.trunks {
        let tenant = tenants
            .iter()
            .find(|x| x.slug == t.tenant)
            .with_context(|| format!("trunk {}: no tenant {}", t.name, t.tenant))?;
        trunks.push(TrunkConfig {
            tenant_id: tenant.id,
            ..t.clone()
        });
    }
    let secret: [u8; 16] = rand::random();
    Ok(TelephonyConfig {
        sip_listen: sip.listen,
        sip_tls: match &sip.tls {
            Some(t) => Some(tsunagu_sip::SipTls {
                listen: t.listen,
                cert_pem: std::fs::read(&t.cert)
                    .with_context(|| format!("reading {}", t.cert.display()))?,
                key_pem: std::fs::read(&t.key)
                    .with_context(|| format!("reading {}", t.key.display()))?,
            }),
            None => None,
        },
        media_ip: sip.media_ip,
        rtp_port_min: sip.rtp_ports.0,
        rtp_port_max: sip.rtp_ports.1,
        trunks,
        recordings_dir: sip
            .recordings
            .clone()
            .unwrap_or_else(|| data_dir.join("recordings")),
        prompts_dir: sip.prompts.clone(),
        nonce_secret: secret.iter().map(|b| format!("{b:02x}")).collect(),
        ring_timeout_secs: sip.ring_timeout_secs,
        rtp_timeout_secs: 60,
        max_calls: sip.max_calls,
    })
}

/// Where the database lives, for files kept beside it (recordings).
fn data_dir_of(url: &str) -> PathBuf {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(|p| p.split('?').next().unwrap_or(p))
        .and_then(|p| std::path::Path::new(p).parent().map(|d| d.to_path_buf()))
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("./tsunagu-data"))
}

async fn serve(
    store: Store,
    http: SocketAddr,
    http_config: HttpConfig,
    telephony: Option<TelephonyConfig>,
    banner: impl FnOnce(&tsunagu_api::RunningServer),
) -> Result<()> {
    let mut server = tsunagu_api::start(
        ServerConfig {
            http_addr: http,
            http: http_config,
            telephony,
        },
        store,
    )
    .await?;
    banner(&server);
    let addr = server.http_addr;
    tokio::select! {
        _ = shutdown_signal() => {
            info!("shutting down: finishing in-flight work");
            server.shutdown().await;
        }
        r = server.wait() => {
            r.with_context(|| format!("HTTP server on {addr} stopped"))?;
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Cli::parse()).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(a) => {
            let mut cfg = load_config(a.config.as_ref())?;
            if let Some(h) = a.http {
                cfg.http_listen = h;
            }
            if let Some(d) = a.database {
                cfg.database_url = d;
            }
            init_logging(&cfg.log_level, cfg.log_json);
            ensure_sqlite_dir(&cfg.database_url)?;
            let store = Store::open(&cfg.database_url)
                .await
                .with_context(|| format!("opening {}", redact_url(&cfg.database_url)))?;
            info!(database = %redact_url(&cfg.database_url), "database ready");
            let http = HttpConfig {
                session_ttl_secs: cfg.session_ttl_secs,
                secure_cookies: cfg.secure_cookies,
                login_max_failures: cfg.login_max_failures,
                ..HttpConfig::default()
            };
            let telephony = match &cfg.sip {
                Some(sip) => {
                    Some(telephony_config(&store, sip, &data_dir_of(&cfg.database_url)).await?)
                }
                None => None,
            };
            serve(store, cfg.http_listen, http, telephony, |s| {
                if let Some(sip) = s.sip_addr {
                    info!(%sip, "SIP listening (UDP and TCP)");
                }
            })
            .await
        }
        Command::Demo(a) => {
            init_logging("info", false);
            if a.reset && a.data.exists() {
                std::fs::remove_dir_all(&a.data)
                    .with_context(|| format!("removing {}", a.data.display()))?;
            }
            std::fs::create_dir_all(&a.data)
                .with_context(|| format!("creating {}", a.data.display()))?;
            let url = format!("sqlite://{}", a.data.join("tsunagu.db").display());
            let store = Store::open(&url).await?;
            if demo::seed_if_empty(&store).await? {
                info!("demo center created");
            }
            demo::ensure_voice(&store).await?;
            let telephony = if a.no_sip {
                None
            } else {
                let any: Vec<ipnet::IpNet> = vec!["0.0.0.0/0".parse()?, "::/0".parse()?];
                let sip = SipSettings {
                    listen: a.sip,
                    media_ip: if a.sip.ip().is_unspecified() {
                        std::net::IpAddr::from([127, 0, 0, 1])
                    } else {
                        a.sip.ip()
                    },
                    rtp_ports: a.rtp_ports,
                    max_calls: a.max_calls as usize,
                    tls: match (a.sip_tls, a.tls_cert.clone(), a.tls_key.clone()) {
                        (Some(listen), Some(cert), Some(key)) => {
                            Some(tsunagu::config::TlsSettings { listen, cert, key })
                        }
                        _ => None,
                    },
                    trunks: vec![TrunkConfig {
                        name: "demo".into(),
                        tenant: "demo".into(),
                        tenant_id: 0,
                        allow: any,
                        outbound: a.carrier,
                        domain: None,
                        tcp: false,
                        auth: None,
                        caller_id: Some(demo::CALLER_ID.into()),
                        national: true,
                        register: None,
                        // The demo's carrier is a test peer that may not answer OPTIONS.
                        qualify_secs: 0,
                        inbound_auth: None,
                    }],
                    ..SipSettings::default()
                };
                Some(telephony_config(&store, &sip, &a.data).await?)
            };
            let data = a.data.display().to_string();
            serve(store, a.http, HttpConfig::default(), telephony, |s| {
                println!(
                    "{}",
                    demo::banner(&s.http_addr.to_string(), s.sip_addr, &data)
                );
            })
            .await
        }
        Command::Migrate(db) => {
            init_logging("info", false);
            let store = open_store(&db).await?;
            println!("database is up to date ({:?})", store.kind());
            Ok(())
        }
        Command::CheckConfig { file } => {
            let cfg = Config::load(Some(&file), |k| std::env::var(k).ok())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}: ok (http {}, database {}, log {} {})",
                file.display(),
                cfg.http_listen,
                redact_url(&cfg.database_url),
                cfg.log_level,
                if cfg.log_json { "json" } else { "text" }
            );
            Ok(())
        }
        Command::Tenant(TenantCommand::Add {
            db,
            slug,
            name,
            time_zone,
            region,
        }) => {
            let store = open_store(&db).await?;
            let t = provision::create_tenant(
                &store,
                provision::NewTenant {
                    slug: &slug,
                    name: &name,
                    time_zone: &time_zone,
                    region: &region,
                },
            )
            .await?;
            println!("tenant {} created (id {})", t.slug, t.id);
            Ok(())
        }
        Command::Tenant(TenantCommand::List { db }) => {
            let store = open_store(&db).await?;
            for t in store.tenants().await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    t.slug, t.name, t.time_zone, t.default_region
                );
            }
            Ok(())
        }
        Command::User(UserCommand::Add {
            db,
            tenant,
            username,
            display_name,
            role,
            agent,
            password,
        }) => {
            let role = Role::parse(&role).context("--role must be agent, supervisor or admin")?;
            let pw = read_password(&password)?;
            let store = open_store(&db).await?;
            let t = provision::tenant(&store, tenant.as_deref()).await?;
            let (u, a) = provision::create_user(
                &store,
                &t,
                provision::NewUser {
                    username: &username,
                    display_name: &display_name,
                    role,
                    password: &pw,
                    agent: agent.then(provision::AgentSpec::default),
                },
            )
            .await?;
            println!(
                "user {} created in {} (id {}, role {}{})",
                u.username,
                t.slug,
                u.id,
                u.role,
                a.map(|a| format!(", agent {}", a.agent.id))
                    .unwrap_or_default()
            );
            Ok(())
        }
        Command::User(UserCommand::List { db, tenant }) => {
            let store = open_store(&db).await?;
            let t = provision::tenant(&store, tenant.as_deref()).await?;
            for u in store.users(t.id).await? {
                println!(
                    "{}\t{}\t{}{}",
                    u.username,
                    u.role,
                    u.display_name,
                    if u.disabled { "\t(disabled)" } else { "" }
                );
            }
            Ok(())
        }
        Command::User(UserCommand::Passwd {
            db,
            tenant,
            username,
            password,
        }) => {
            let pw = read_password(&password)?;
            if pw.chars().count() < tsunagu_api::auth::password::MIN_LEN {
                bail!(
                    "password: must be at least {} characters",
                    tsunagu_api::auth::password::MIN_LEN
                );
            }
            let store = open_store(&db).await?;
            let t = provision::tenant(&store, tenant.as_deref()).await?;
            let mut u = store
                .user_by_name(t.id, &username)
                .await?
                .with_context(|| format!("no user {username:?}"))?;
            u.password_hash = tsunagu_api::auth::password::hash(&pw);
            store.update_user(&u).await?;
            store.revoke_user_tokens(u.id).await?;
            println!("password of {username} changed; their sessions and tokens were revoked");
            Ok(())
        }
        Command::User(UserCommand::Disable {
            db,
            tenant,
            username,
        }) => {
            let store = open_store(&db).await?;
            let t = provision::tenant(&store, tenant.as_deref()).await?;
            let mut u = store
                .user_by_name(t.id, &username)
                .await?
                .with_context(|| format!("no user {username:?}"))?;
            u.disabled = true;
            store.update_user(&u).await?;
            println!("{username} disabled (takes effect at once for API calls; a running server logs the agent off at its next change)");
            Ok(())
        }
        Command::Token(TokenCommand::Create {
            db,
            tenant,
            username,
            name,
        }) => {
            let store = open_store(&db).await?;
            let t = provision::tenant(&store, tenant.as_deref()).await?;
            let u = store
                .user_by_name(t.id, &username)
                .await?
                .with_context(|| format!("no user {username:?}"))?;
            let secret = provision::create_api_token(&store, &u, &name).await?;
            println!("{secret}");
            eprintln!("(shown once; use it as `Authorization: Bearer …`)");
            Ok(())
        }
    }
}
