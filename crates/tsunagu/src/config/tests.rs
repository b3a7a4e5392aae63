//! The config loader's tests: defaults, full files, and every refusal with its line.

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

#[test]
fn max_calls_is_checked() {
    let c = Config::from_toml("t.toml", "[sip]\nmax_calls = 50\n").unwrap();
    assert_eq!(c.sip.unwrap().max_calls, 50);
    let c = Config::from_toml("t.toml", "[sip]\n").unwrap();
    assert_eq!(c.sip.unwrap().max_calls, DEFAULT_MAX_CALLS);
    let e = Config::from_toml("t.toml", "[sip]\nmax_calls = 0\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t.toml:2:13: sip.max_calls: must be between 1 and 100000"),
        "{e}"
    );
}

/// Regression: a caller ID with a letter was presented as written.
#[test]
fn a_trunk_caller_id_must_be_a_number() {
    let e = Config::from_toml(
            "t.toml",
            "[sip]\n[[sip.trunks]]\nname = \"c\"\ntenant = \"a\"\noutbound = \"192.0.2.1:5060\"\ncaller_id = \"03-1234-567a\"\n",
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t.toml:6:13: sip.trunks.caller_id: \"03-1234-567a\" must not contain `a`"),
        "{e}"
    );
}

#[test]
fn sip_section_with_trunks() {
    let text = r#"
[sip]
listen = "0.0.0.0:5070"
media_ip = "192.0.2.10"
rtp_ports = [30000, 31000]

[[sip.trunks]]
name = "carrier"
tenant = "acme"
allow = ["198.51.100.0/24", "198.51.100.200"]
outbound = "198.51.100.5:5060"
transport = "tcp"
username = "0312345678"
password = "secret"
caller_id = "03-1234-5678"
national = true
"#;
    let c = Config::from_toml("t.toml", text).unwrap();
    let s = c.sip.unwrap();
    assert_eq!((s.listen.port(), s.rtp_ports), (5070, (30000, 31000)));
    let t = &s.trunks[0];
    assert!(t.tcp && t.national);
    assert_eq!(t.allow.len(), 2);
    assert_eq!(
        t.caller_id.as_deref(),
        Some("0312345678"),
        "presented as digits"
    );
    assert!(
        !format!("{t:?}").contains("secret"),
        "no password in debug output"
    );

    assert_eq!(t.register, None);
    // Regression: the top of the port space is accepted without overflow.
    assert_eq!(rtp_ports(65533, 65535), Ok((65533, 65535)));
    assert!(rtp_ports(65534, 65535).is_err());
    assert!(rtp_ports(1000, 2000).is_err());
    assert_eq!(t.qualify_secs, 60, "OPTIONS keep-alive by default");
    let e = Config::from_toml(
            "t.toml",
            "[sip]\n[[sip.trunks]]\nname = \"in\"\ntenant = \"a\"\ninbound_username = \"prov\"\ninbound_password = \"short\"\n",
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t.toml:2:1: trunk in: inbound_username needs inbound_password"),
        "{e}"
    );
    let c = Config::from_toml(
            "t.toml",
            "[sip]\n[[sip.trunks]]\nname = \"in\"\ntenant = \"a\"\ninbound_username = \"prov\"\ninbound_password = \"long-enough\"\n",
        )
        .unwrap();
    let t = &c.sip.unwrap().trunks[0];
    assert_eq!(t.inbound_auth.as_ref().map(|a| a.0.as_str()), Some("prov"));
    assert!(
        !format!("{t:?}").contains("long-enough"),
        "no password in debug output"
    );
    let ha1 = &t.inbound_auth.as_ref().unwrap().1;
    assert_eq!(ha1.len(), 32, "only the HA1 is kept");
    assert!(
        !format!("{t:?}").contains(ha1.as_str()),
        "no HA1 (a password equivalent) in debug output"
    );
    let e = Config::from_toml(
            "t.toml",
            "[sip]\n[[sip.trunks]]\nname = \"q\"\ntenant = \"a\"\noutbound = \"198.51.100.5:5060\"\nqualify_secs = 5\n",
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("t.toml:6:16: sip.trunks.qualify_secs"), "{e}");

    let reg = "[[sip.trunks]]\nname = \"r\"\ntenant = \"a\"\noutbound = \"198.51.100.5:5060\"\nusername = \"u\"\npassword = \"p\"\nregister = true\nregister_expires = 600\n";
    let c = Config::from_toml("t.toml", &format!("[sip]\n{reg}")).unwrap();
    assert_eq!(c.sip.unwrap().trunks[0].register, Some(600));
    let e = Config::from_toml(
            "t.toml",
            "[sip]\n[[sip.trunks]]\nname = \"r\"\ntenant = \"a\"\noutbound = \"198.51.100.5:5060\"\nregister = true\nregister_expires = 5\n",
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t.toml:7:20: sip.trunks.register_expires"),
        "{e}"
    );
    assert!(
        e.contains("register needs outbound, username and password"),
        "{e}"
    );

    // TLS: all three settings together, readable PEM files.
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("c.pem");
    let key = dir.path().join("k.pem");
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(&key, "not a key").unwrap();
    let tls = format!(
        "[sip]\ntls_listen = \"0.0.0.0:5061\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let e = Config::from_toml("t.toml", &tls).unwrap_err().to_string();
    assert!(
        e.contains("t.toml:4:11: sip.tls_key") && e.contains("holds no PEM"),
        "{e}"
    );
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let c = Config::from_toml("t.toml", &tls).unwrap();
    assert_eq!(c.sip.unwrap().tls.unwrap().listen.port(), 5061);
    let e = Config::from_toml("t.toml", "[sip]\ntls_listen = \"0.0.0.0:5061\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t.toml:2:14: sip: give tls_listen, tls_cert and tls_key together"),
        "{e}"
    );

    let bad = "[sip]\nmedia_ip = \"0.0.0.0\"\n[[sip.trunks]]\nname = \"x\"\ntenant = \"a\"\nallow = [\"nonsense\"]\n";
    let e = Config::from_toml("t.toml", bad).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("t.toml:2:12: sip.media_ip"), "{text}");
    assert!(text.contains("t.toml:6:10: sip.trunks.allow"), "{text}");
}
