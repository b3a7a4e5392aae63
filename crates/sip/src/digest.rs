//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 2617), server side: challenges and
//! verification. Passwords are never stored: an account keeps HA1 = MD5(user:realm:password).
//!
//! Nonces are stateless: `<issued-at hex>.<MD5(secret:issued-at)>`, valid for five minutes,
//! so a challenge survives restarts and needs no table.

use md5::{Digest, Md5};

pub const NONCE_TTL_MS: i64 = 5 * 60 * 1000;

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// HA1 for storage.
pub fn ha1(username: &str, realm: &str, password: &str) -> String {
    md5_hex(&format!("{username}:{realm}:{password}"))
}

pub fn make_nonce(secret: &str, now_ms: i64) -> String {
    let t = format!("{now_ms:x}");
    format!("{t}.{}", md5_hex(&format!("{secret}:{t}")))
}

/// Is the nonce ours and fresh?
pub fn nonce_valid(secret: &str, nonce: &str, now_ms: i64) -> bool {
    let Some((t, mac)) = nonce.split_once('.') else {
        return false;
    };
    let Ok(issued) = i64::from_str_radix(t, 16) else {
        return false;
    };
    md5_hex(&format!("{secret}:{t}")) == mac && now_ms >= issued && now_ms - issued <= NONCE_TTL_MS
}

/// The parameters of an `Authorization` header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
    pub algorithm: Option<String>,
}

/// Parses `Digest username="…", realm="…", …`.
pub fn parse_authorization(value: &str) -> Option<Credentials> {
    let rest = value
        .trim()
        .strip_prefix("Digest")
        .or_else(|| value.trim().strip_prefix("digest"))?;
    let mut c = Credentials::default();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (val, rest) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim(), &after[end..])
        };
        match key.as_str() {
            "username" => c.username = val.into(),
            "realm" => c.realm = val.into(),
            "nonce" => c.nonce = val.into(),
            "uri" => c.uri = val.into(),
            "response" => c.response = val.to_ascii_lowercase(),
            "qop" => c.qop = Some(val.into()),
            "nc" => c.nc = Some(val.into()),
            "cnonce" => c.cnonce = Some(val.into()),
            "algorithm" => c.algorithm = Some(val.into()),
            _ => {}
        }
        s = rest.trim_start().trim_start_matches(',').trim_start();
    }
    (!c.username.is_empty() && !c.response.is_empty()).then_some(c)
}

/// Checks the response against the stored HA1 for this method.
pub fn verify(c: &Credentials, method: &str, ha1: &str) -> bool {
    if c.algorithm
        .as_deref()
        .is_some_and(|a| !a.eq_ignore_ascii_case("MD5"))
    {
        return false;
    }
    let ha2 = md5_hex(&format!("{method}:{}", c.uri));
    let expected = match (&c.qop, &c.nc, &c.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) if qop == "auth" => {
            md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", c.nonce))
        }
        (None, _, _) => md5_hex(&format!("{ha1}:{}:{ha2}", c.nonce)),
        _ => return false,
    };
    constant_time_eq(expected.as_bytes(), c.response.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `WWW-Authenticate` value of a challenge.
pub fn challenge(realm: &str, nonce: &str, stale: bool) -> String {
    format!(
        "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"{}",
        if stale { ", stale=true" } else { "" }
    )
}

/// What a client would send (for tests and outbound registration).
pub fn client_response(
    ha1: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
) -> String {
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example() {
        // RFC 2617 §3.5 (with qop=auth), using HA1 of Mufasa:testrealm@host.com:Circle Of Life.
        let h = ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(h, "939e7578ed9e3c518a452acee763bce9");
        let header = r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let c = parse_authorization(header).unwrap();
        assert!(verify(&c, "GET", &h));
        assert!(!verify(&c, "POST", &h));
        assert!(!verify(
            &c,
            "GET",
            &ha1("Mufasa", "testrealm@host.com", "wrong")
        ));
    }

    #[test]
    fn nonces_expire_and_cannot_be_forged() {
        let n = make_nonce("s3cret", 1_000_000);
        assert!(nonce_valid("s3cret", &n, 1_000_000 + 1000));
        assert!(!nonce_valid("s3cret", &n, 1_000_000 + NONCE_TTL_MS + 1));
        assert!(!nonce_valid("other", &n, 1_000_000));
        assert!(!nonce_valid("s3cret", "f00.bad", 1_000_000));
        assert!(!nonce_valid("s3cret", "garbage", 1_000_000));
    }

    #[test]
    fn client_and_server_agree() {
        let h = ha1("agent1", "tsunagu", "secret");
        let nonce = make_nonce("k", 5);
        let resp = client_response(&h, "REGISTER", "sip:127.0.0.1", &nonce, "00000001", "abc");
        let header = format!(
            "Digest username=\"agent1\",realm=\"tsunagu\",nonce=\"{nonce}\",uri=\"sip:127.0.0.1\",response=\"{resp}\",qop=auth,nc=00000001,cnonce=\"abc\",algorithm=MD5"
        );
        let c = parse_authorization(&header).unwrap();
        assert!(verify(&c, "REGISTER", &h));
        assert!(parse_authorization("Basic abc").is_none());
        assert!(parse_authorization("Digest realm=\"x\"").is_none());
    }
}
