//! The server's configuration file (TOML) and environment overrides, validated at load:
//! every problem is reported with the file, line and column it comes from.
//!
//! ```toml
//! [http]
//! listen = "127.0.0.1:8080"
//! session_ttl_secs = 43200
//! secure_cookies = false
//! login_max_failures = 5
//!
//! [database]
//! url = "sqlite://./tsunagu-data/tsunagu.db"   # or postgres://user@host/db
//!
//! [log]
//! level = "info"      # error, warn, info, debug, trace (RUST_LOG overrides)
//! format = "text"     # or "json"
//!
//! [sip]                                  # telephony; leave out to run without
//! listen = "0.0.0.0:5060"                # UDP and TCP
//! media_ip = "203.0.113.10"              # RTP binds here and SDP announces it
//! rtp_ports = [20000, 30000]
//! recordings = "./tsunagu-data/recordings"
//! prompts = "./prompts"                  # optional: <lang>/<name>.wav over the built-in set
//! ring_timeout_secs = 30
//! max_calls = 2000                       # calls at once; a new one beyond is refused (503)
//! tls_listen = "0.0.0.0:5061"            # optional: SIP over TLS for phones and trunks
//! tls_cert = "/etc/tsunagu/sip.crt"      #   certificate chain (PEM)
//! tls_key = "/etc/tsunagu/sip.key"       #   private key (PEM)
//!
//! [[sip.trunks]]
//! name = "carrier"
//! tenant = "acme"                        # tenant slug
//! allow = ["203.0.113.0/24"]             # sources whose calls are accepted
//! outbound = "203.0.113.5:5060"          # where outbound calls go
//! domain = "sip.carrier.example"
//! transport = "udp"                      # or tcp
//! username = "0312345678"
//! password_env = "CARRIER_PASSWORD"      # or password = "…"
//! caller_id = "0312345678"
//! national = true                        # dial 0312345678 rather than +81312345678
//! qualify_secs = 60                      # OPTIONS keep-alive to outbound (0: off)
//! inbound_username = "carrier-in"        # the provider's INVITEs may also come from
//! inbound_password_env = "CARRIER_IN_PW" #   elsewhere, answering our digest challenge
//! register = true                        # REGISTER with the provider (needs outbound,
//! register_expires = 3600                #   username and password); 60..=86400 s
//! ```
//!
//! Environment overrides: `TSUNAGU_HTTP_LISTEN`, `TSUNAGU_DATABASE_URL`,
//! `TSUNAGU_SESSION_TTL_SECS`, `TSUNAGU_SECURE_COOKIES`, `TSUNAGU_LOG_LEVEL`,
//! `TSUNAGU_LOG_FORMAT`, `TSUNAGU_SIP_LISTEN`, `TSUNAGU_MEDIA_IP`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use tsunagu_runtime::telephony::TrunkConfig;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    http: HttpSection,
    #[serde(default)]
    database: DatabaseSection,
    #[serde(default)]
    log: LogSection,
    sip: Option<SipSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SipSection {
    listen: Option<Spanned<String>>,
    media_ip: Option<Spanned<String>>,
    rtp_ports: Option<Spanned<(i64, i64)>>,
    recordings: Option<String>,
    prompts: Option<String>,
    ring_timeout_secs: Option<Spanned<i64>>,
    max_calls: Option<Spanned<i64>>,
    tls_listen: Option<Spanned<String>>,
    tls_cert: Option<Spanned<String>>,
    tls_key: Option<Spanned<String>>,
    #[serde(default)]
    trunks: Vec<Spanned<TrunkSection>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrunkSection {
    name: String,
    tenant: String,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    outbound: Option<Spanned<String>>,
    domain: Option<String>,
    transport: Option<Spanned<String>>,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    caller_id: Option<Spanned<String>>,
    #[serde(default)]
    national: bool,
    #[serde(default)]
    register: bool,
    register_expires: Option<Spanned<i64>>,
    qualify_secs: Option<Spanned<i64>>,
    inbound_username: Option<String>,
    inbound_password: Option<String>,
    inbound_password_env: Option<String>,
}

/// Calls at once unless `sip.max_calls` says otherwise.
pub const DEFAULT_MAX_CALLS: usize = 2000;

/// Telephony settings (the `[sip]` section).
#[derive(Clone, Debug, PartialEq)]
pub struct SipSettings {
    pub listen: SocketAddr,
    pub media_ip: IpAddr,
    pub rtp_ports: (u16, u16),
    pub recordings: Option<PathBuf>,
    pub prompts: Option<PathBuf>,
    pub ring_timeout_secs: u32,
    /// Calls at once (inbound and outbound); a new inbound call beyond is answered
    /// `503 Service Unavailable`, a new outbound one refused with HTTP 503.
    pub max_calls: usize,
    /// SIP over TLS: listen address, certificate and key files (PEM).
    pub tls: Option<TlsSettings>,
    /// Validated into the runtime's one description of a trunk (tenant ids are found
    /// when telephony starts).
    pub trunks: Vec<TrunkConfig>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TlsSettings {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for SipSettings {
    fn default() -> Self {
        SipSettings {
            listen: "127.0.0.1:5060".parse().expect("valid"),
            media_ip: IpAddr::from([127, 0, 0, 1]),
            rtp_ports: (20000, 30000),
            recordings: None,
            prompts: None,
            ring_timeout_secs: 30,
            max_calls: DEFAULT_MAX_CALLS,
            tls: None,
            trunks: Vec::new(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HttpSection {
    listen: Option<Spanned<String>>,
    session_ttl_secs: Option<Spanned<i64>>,
    secure_cookies: Option<bool>,
    login_max_failures: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DatabaseSection {
    url: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LogSection {
    level: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
}

/// The validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub http_listen: SocketAddr,
    pub session_ttl_secs: i64,
    pub secure_cookies: bool,
    pub login_max_failures: u32,
    pub database_url: String,
    pub log_level: String,
    pub log_json: bool,
    pub sip: Option<SipSettings>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            http_listen: "127.0.0.1:8080".parse().expect("valid"),
            session_ttl_secs: 12 * 3600,
            secure_cookies: false,
            login_max_failures: 5,
            database_url: "sqlite://./tsunagu-data/tsunagu.db".into(),
            log_level: "info".into(),
            log_json: false,
            sip: None,
        }
    }
}

/// One problem in the configuration, with where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `file:line:column`, or the environment variable.
    pub location: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

impl Config {
    /// Loads `path` (if given) over the defaults, then applies environment overrides from
    /// `env` (a lookup function, so tests need not touch the process environment).
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let mut cfg = Config::default();
        let mut errors = Vec::new();
        if let Some(path) = path {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigErrors(vec![ConfigError {
                    location: name.clone(),
                    message: format!("cannot read: {e}"),
                }])
            })?;
            cfg.apply_file(&name, &text, &mut errors);
        }
        cfg.apply_env(env, &mut errors);
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Parses configuration text (as if from `name`).
    pub fn from_toml(name: &str, text: &str) -> Result<Config, ConfigErrors> {
        let mut cfg = Config::default();
        let mut errors = Vec::new();
        cfg.apply_file(name, text, &mut errors);
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    fn apply_file(&mut self, name: &str, text: &str, errors: &mut Vec<ConfigError>) {
        let file: FileConfig = match toml::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                let location = match e.span() {
                    Some(span) => {
                        let (l, c) = tsunagu_flow::load::line_col(text, span.start);
                        format!("{name}:{l}:{c}")
                    }
                    None => name.to_string(),
                };
                errors.push(ConfigError {
                    location,
                    message: e.message().to_string(),
                });
                return;
            }
        };
        let at = |span: std::ops::Range<usize>| {
            let (l, c) = tsunagu_flow::load::line_col(text, span.start);
            format!("{name}:{l}:{c}")
        };
        if let Some(v) = file.http.listen {
            match v.get_ref().parse::<SocketAddr>() {
                Ok(a) => self.http_listen = a,
                Err(_) => errors.push(ConfigError {
                    location: at(v.span()),
                    message: format!(
                        "http.listen: {:?} is not an address like 127.0.0.1:8080",
                        v.get_ref()
                    ),
                }),
            }
        }
        if let Some(v) = file.http.session_ttl_secs {
            match check_ttl(*v.get_ref()) {
                Ok(t) => self.session_ttl_secs = t,
                Err(m) => errors.push(ConfigError {
                    location: at(v.span()),
                    message: format!("http.session_ttl_secs: {m}"),
                }),
            }
        }
        if let Some(v) = file.http.secure_cookies {
            self.secure_cookies = v;
        }
        if let Some(v) = file.http.login_max_failures {
            match u32::try_from(*v.get_ref()) {
                Ok(n) if (1..=1000).contains(&n) => self.login_max_failures = n,
                _ => errors.push(ConfigError {
                    location: at(v.span()),
                    message: "http.login_max_failures: must be between 1 and 1000".into(),
                }),
            }
        }
        if let Some(v) = file.database.url {
            match check_db_url(v.get_ref()) {
                Ok(()) => self.database_url = v.get_ref().clone(),
                Err(m) => errors.push(ConfigError {
                    location: at(v.span()),
                    message: format!("database.url: {m}"),
                }),
            }
        }
        if let Some(v) = file.log.level {
            if LEVELS.contains(&v.get_ref().as_str()) {
                self.log_level = v.get_ref().clone();
            } else {
                errors.push(ConfigError {
                    location: at(v.span()),
                    message: format!("log.level: must be one of {}", LEVELS.join(", ")),
                });
            }
        }
        if let Some(v) = file.log.format {
            match v.get_ref().as_str() {
                "text" => self.log_json = false,
                "json" => self.log_json = true,
                _ => errors.push(ConfigError {
                    location: at(v.span()),
                    message: "log.format: must be text or json".into(),
                }),
            }
        }
        if let Some(s) = file.sip {
            self.sip = Some(sip_settings(s, &at, errors));
        }
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>, errors: &mut Vec<ConfigError>) {
        let bad = |var: &str, message: String| ConfigError {
            location: format!("environment {var}"),
            message,
        };
        if let Some(v) = env("TSUNAGU_HTTP_LISTEN") {
            match v.parse() {
                Ok(a) => self.http_listen = a,
                Err(_) => errors.push(bad(
                    "TSUNAGU_HTTP_LISTEN",
                    format!("{v:?} is not an address like 127.0.0.1:8080"),
                )),
            }
        }
        if let Some(v) = env("TSUNAGU_DATABASE_URL") {
            match check_db_url(&v) {
                Ok(()) => self.database_url = v,
                Err(m) => errors.push(bad("TSUNAGU_DATABASE_URL", m)),
            }
        }
        if let Some(v) = env("TSUNAGU_SESSION_TTL_SECS") {
            match v
                .parse::<i64>()
                .map_err(|_| "is not a number".to_string())
                .and_then(check_ttl)
            {
                Ok(t) => self.session_ttl_secs = t,
                Err(m) => errors.push(bad("TSUNAGU_SESSION_TTL_SECS", m)),
            }
        }
        if let Some(v) = env("TSUNAGU_SECURE_COOKIES") {
            match v.as_str() {
                "1" | "true" | "yes" => self.secure_cookies = true,
                "0" | "false" | "no" => self.secure_cookies = false,
                _ => errors.push(bad(
                    "TSUNAGU_SECURE_COOKIES",
                    "must be true or false".into(),
                )),
            }
        }
        if let Some(v) = env("TSUNAGU_LOG_LEVEL") {
            if LEVELS.contains(&v.as_str()) {
                self.log_level = v;
            } else {
                errors.push(bad(
                    "TSUNAGU_LOG_LEVEL",
                    format!("must be one of {}", LEVELS.join(", ")),
                ));
            }
        }
        if let Some(v) = env("TSUNAGU_SIP_LISTEN") {
            match v.parse() {
                Ok(a) => self.sip.get_or_insert_with(SipSettings::default).listen = a,
                Err(_) => errors.push(bad(
                    "TSUNAGU_SIP_LISTEN",
                    format!("{v:?} is not an address like 0.0.0.0:5060"),
                )),
            }
        }
        if let Some(v) = env("TSUNAGU_MEDIA_IP") {
            match v.parse() {
                Ok(a) => self.sip.get_or_insert_with(SipSettings::default).media_ip = a,
                Err(_) => errors.push(bad(
                    "TSUNAGU_MEDIA_IP",
                    format!("{v:?} is not an IP address"),
                )),
            }
        }
        if let Some(v) = env("TSUNAGU_LOG_FORMAT") {
            match v.as_str() {
                "text" => self.log_json = false,
                "json" => self.log_json = true,
                _ => errors.push(bad("TSUNAGU_LOG_FORMAT", "must be text or json".into())),
            }
        }
    }
}

fn sip_settings(
    s: SipSection,
    at: &dyn Fn(std::ops::Range<usize>) -> String,
    errors: &mut Vec<ConfigError>,
) -> SipSettings {
    let mut out = SipSettings::default();
    let mut err = |span: std::ops::Range<usize>, message: String| {
        errors.push(ConfigError {
            location: at(span),
            message,
        })
    };
    if let Some(v) = s.listen {
        match v.get_ref().parse() {
            Ok(a) => out.listen = a,
            Err(_) => err(
                v.span(),
                format!(
                    "sip.listen: {:?} is not an address like 0.0.0.0:5060",
                    v.get_ref()
                ),
            ),
        }
    }
    if let Some(v) = s.media_ip {
        match v.get_ref().parse::<IpAddr>() {
            Ok(ip) if !ip.is_unspecified() => out.media_ip = ip,
            _ => err(
                v.span(),
                format!(
                    "sip.media_ip: {:?} must be the IP address phones reach (not 0.0.0.0)",
                    v.get_ref()
                ),
            ),
        }
    }
    if let Some(v) = s.rtp_ports {
        let (a, b) = *v.get_ref();
        match rtp_ports(a, b) {
            Ok(p) => out.rtp_ports = p,
            Err(m) => err(v.span(), format!("sip.rtp_ports: {m}")),
        }
    }
    out.recordings = s.recordings.map(PathBuf::from);
    out.prompts = s.prompts.map(PathBuf::from);
    if let Some(v) = s.ring_timeout_secs {
        match u32::try_from(*v.get_ref()) {
            Ok(n) if (5..=300).contains(&n) => out.ring_timeout_secs = n,
            _ => err(
                v.span(),
                "sip.ring_timeout_secs: must be between 5 and 300".into(),
            ),
        }
    }
    if let Some(v) = s.max_calls {
        match usize::try_from(*v.get_ref()) {
            Ok(n) if (1..=100_000).contains(&n) => out.max_calls = n,
            _ => err(
                v.span(),
                "sip.max_calls: must be between 1 and 100000".into(),
            ),
        }
    }
    match (s.tls_listen, s.tls_cert, s.tls_key) {
        (None, None, None) => {}
        (Some(l), Some(c), Some(k)) => {
            let listen = l.get_ref().parse::<SocketAddr>();
            if listen.is_err() {
                err(
                    l.span(),
                    format!(
                        "sip.tls_listen: {:?} is not an address like 0.0.0.0:5061",
                        l.get_ref()
                    ),
                );
            }
            let mut pem_ok =
                |v: &Spanned<String>, field: &str, marker: &str| match std::fs::read_to_string(
                    v.get_ref(),
                ) {
                    Ok(text) if text.contains(marker) => true,
                    Ok(_) => {
                        err(
                            v.span(),
                            format!("sip.{field}: {} holds no PEM {marker}", v.get_ref()),
                        );
                        false
                    }
                    Err(e) => {
                        err(
                            v.span(),
                            format!("sip.{field}: cannot read {}: {e}", v.get_ref()),
                        );
                        false
                    }
                };
            let cert_ok = pem_ok(&c, "tls_cert", "CERTIFICATE-----");
            let key_ok = pem_ok(&k, "tls_key", "PRIVATE KEY-----");
            if let (Ok(listen), true, true) = (listen, cert_ok, key_ok) {
                out.tls = Some(TlsSettings {
                    listen,
                    cert: PathBuf::from(c.into_inner()),
                    key: PathBuf::from(k.into_inner()),
                });
            }
        }
        (l, c, k) => {
            let span = l
                .map(|v| v.span())
                .or(c.map(|v| v.span()))
                .or(k.map(|v| v.span()))
                .expect("one is given");
            err(
                span,
                "sip: give tls_listen, tls_cert and tls_key together".into(),
            );
        }
    }
    for t in s.trunks {
        let span = t.span();
        let t = t.into_inner();
        let mut trunk = TrunkConfig {
            name: t.name.clone(),
            tenant: t.tenant,
            tenant_id: 0,
            allow: Vec::new(),
            outbound: None,
            domain: t.domain,
            tcp: false,
            auth: None,
            caller_id: None,
            national: t.national,
            register: None,
            qualify_secs: 60,
            inbound_auth: None,
        };
        let mut password = t.password;
        let inbound_password = match t.inbound_password_env {
            Some(var) => match env_secret("inbound_password_env", &var) {
                Ok(p) => Some(p),
                Err(m) => {
                    err(span.clone(), m);
                    None
                }
            },
            None => t.inbound_password,
        };
        match (t.inbound_username, inbound_password) {
            (Some(u), Some(p)) if !u.is_empty() && p.len() >= 8 => {
                // Only the HA1 leaves the configuration.
                let ha1 = tsunagu_sip::digest::ha1(&u, tsunagu_sip::REALM, &p);
                trunk.inbound_auth = Some((u, ha1));
            }
            (None, None) => {}
            _ => err(
                span.clone(),
                format!(
                    "trunk {}: inbound_username needs inbound_password (8 characters or more) and the reverse",
                    t.name
                ),
            ),
        }
        if let Some(c) = t.caller_id {
            // The phone-number rule of every entry point; presented as its digits, since a
            // carrier reads `03-1234-5678` in a From URI as no number at all.
            match tsunagu_domain::phone::digits(c.get_ref()) {
                Ok(d) => trunk.caller_id = Some(d),
                Err(e) => err(
                    c.span(),
                    format!("sip.trunks.caller_id: {:?} {e}", c.get_ref()),
                ),
            }
        }
        if let Some(v) = t.qualify_secs {
            match u32::try_from(*v.get_ref()) {
                Ok(n) if n == 0 || (10..=3600).contains(&n) => trunk.qualify_secs = n,
                _ => err(
                    v.span(),
                    "sip.trunks.qualify_secs: must be 0 (off) or between 10 and 3600".into(),
                ),
            }
        }
        let expires = match t.register_expires {
            Some(v) => match u32::try_from(*v.get_ref()) {
                Ok(n) if (60..=86_400).contains(&n) => n,
                _ => {
                    err(
                        v.span(),
                        "sip.trunks.register_expires: must be between 60 and 86400 seconds".into(),
                    );
                    3600
                }
            },
            None => 3600,
        };
        for a in t.allow {
            let text = a.get_ref();
            let parsed = text
                .parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from));
            match parsed {
                Ok(n) => trunk.allow.push(n),
                Err(_) => err(a.span(), format!("sip.trunks.allow: {text:?} is not an address or network like 203.0.113.0/24")),
            }
        }
        if let Some(o) = t.outbound {
            match o.get_ref().parse() {
                Ok(a) => trunk.outbound = Some(a),
                Err(_) => err(
                    o.span(),
                    format!(
                        "sip.trunks.outbound: {:?} is not an address like 203.0.113.5:5060",
                        o.get_ref()
                    ),
                ),
            }
        }
        if let Some(tr) = t.transport {
            match tr.get_ref().as_str() {
                "udp" => trunk.tcp = false,
                "tcp" => trunk.tcp = true,
                _ => err(tr.span(), "sip.trunks.transport: must be udp or tcp".into()),
            }
        }
        if let Some(var) = t.password_env {
            match env_secret("password_env", &var) {
                Ok(p) => password = Some(p),
                Err(m) => err(span.clone(), m),
            }
        }
        if let (Some(username), Some(password)) = (t.username, password) {
            trunk.auth = Some(tsunagu_sip::TrunkAuth { username, password });
        }
        if t.register {
            if trunk.outbound.is_none() || trunk.auth.is_none() {
                err(
                    span.clone(),
                    format!(
                        "trunk {}: register needs outbound, username and password (or password_env)",
                        t.name
                    ),
                );
            }
            trunk.register = Some(expires);
        }
        if trunk.allow.is_empty() && trunk.outbound.is_none() && trunk.inbound_auth.is_none() {
            err(
                span,
                format!(
                    "trunk {}: give allow or inbound_username (inbound) and/or outbound",
                    t.name
                ),
            );
        }
        out.trunks.push(trunk);
    }
    out
}

/// An RTP port range: 1024 <= low, high <= 65535, at least two ports apart (one RTP/RTCP
/// pair). The one rule for the config file and the demo's `--rtp-ports`.
pub fn rtp_ports(low: i64, high: i64) -> Result<(u16, u16), String> {
    if (1024..=65533).contains(&low) && high <= 65535 && high - low >= 2 {
        Ok((low as u16, high as u16))
    } else {
        Err("must be [low, high] with 1024 <= low, high <= 65535 and high - low >= 2".into())
    }
}

/// A trunk password read from the environment variable a `*_env` setting names.
fn env_secret(field: &str, var: &str) -> Result<String, String> {
    std::env::var(var)
        .map_err(|_| format!("sip.trunks.{field}: environment variable {var} is not set"))
}

fn check_ttl(secs: i64) -> Result<i64, String> {
    if (60..=30 * 86_400).contains(&secs) {
        Ok(secs)
    } else {
        Err("must be between 60 and 2592000 seconds".into())
    }
}

fn check_db_url(url: &str) -> Result<(), String> {
    if url.starts_with("sqlite:") || url.starts_with("postgres:") || url.starts_with("postgresql:")
    {
        Ok(())
    } else {
        Err("must start with sqlite: or postgres:".into())
    }
}

#[cfg(test)]
mod tests;
