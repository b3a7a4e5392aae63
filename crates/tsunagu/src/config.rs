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
//! ```
//!
//! Environment overrides: `TSUNAGU_HTTP_LISTEN`, `TSUNAGU_DATABASE_URL`,
//! `TSUNAGU_SESSION_TTL_SECS`, `TSUNAGU_SECURE_COOKIES`, `TSUNAGU_LOG_LEVEL`,
//! `TSUNAGU_LOG_FORMAT`.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    http: HttpSection,
    #[serde(default)]
    database: DatabaseSection,
    #[serde(default)]
    log: LogSection,
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

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    (line, col)
}

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
                        let (l, c) = line_col(text, span.start);
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
            let (l, c) = line_col(text, span.start);
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
        if let Some(v) = env("TSUNAGU_LOG_FORMAT") {
            match v.as_str() {
                "text" => self.log_json = false,
                "json" => self.log_json = true,
                _ => errors.push(bad("TSUNAGU_LOG_FORMAT", "must be text or json".into())),
            }
        }
    }
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
mod tests {
    use super::*;

    #[test]
    fn defaults_and_a_full_file() {
        let text = r#"
[http]
listen = "0.0.0.0:9000"
session_ttl_secs = 3600
secure_cookies = true

[database]
url = "postgres://tsunagu@db/tsunagu"

[log]
format = "json"
"#;
        let c = Config::from_toml("t.toml", text).unwrap();
        assert_eq!(c.http_listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(
            (c.session_ttl_secs, c.secure_cookies, c.log_json),
            (3600, true, true)
        );
        assert_eq!(c.database_url, "postgres://tsunagu@db/tsunagu");
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let text = "[http]\nlisten = \"localhost\"\nsession_ttl_secs = 5\n";
        let e = Config::from_toml("t.toml", text).unwrap_err();
        assert_eq!(e.0.len(), 2);
        assert_eq!(e.0[0].location, "t.toml:2:10");
        assert!(e.0[0].message.contains("http.listen"));
        assert_eq!(e.0[1].location, "t.toml:3:20");

        let e = Config::from_toml("t.toml", "[http]\nlisen = 1\n").unwrap_err();
        assert_eq!(e.0[0].location, "t.toml:2:1");
        assert!(
            e.0[0].message.contains("unknown field"),
            "{}",
            e.0[0].message
        );

        let e = Config::from_toml("t.toml", "[database]\nurl = \"mysql://x\"").unwrap_err();
        assert!(e
            .to_string()
            .contains("t.toml:2:7: database.url: must start with sqlite: or postgres:"));
    }

    #[test]
    fn environment_overrides_the_file() {
        let env = |k: &str| match k {
            "TSUNAGU_HTTP_LISTEN" => Some("127.0.0.1:1234".to_string()),
            "TSUNAGU_LOG_LEVEL" => Some("loud".to_string()),
            _ => None,
        };
        let e = Config::load(None, env).unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].location, "environment TSUNAGU_LOG_LEVEL");
        let ok = Config::load(None, |k| {
            (k == "TSUNAGU_HTTP_LISTEN").then(|| "127.0.0.1:1234".to_string())
        })
        .unwrap();
        assert_eq!(ok.http_listen.port(), 1234);
    }
}
