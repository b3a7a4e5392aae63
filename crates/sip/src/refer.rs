//! The `Refer-To` header of a REFER (RFC 3515 §2.1, grammar of RFC 3261 §25.1):
//!
//! ```text
//! Refer-To  = ("Refer-To" / "r") HCOLON (name-addr / addr-spec) *(SEMI refer-param)
//! name-addr = [display-name] LAQUOT addr-spec RAQUOT
//! ```
//!
//! Every legal form is read: a quoted display name (`"Sales" <sip:2001@pbx>`, with escaped
//! quotes inside), a token display name (`Sales <sip:2001@pbx>`), a bare URI
//! (`sip:2001@pbx`), URI parameters (`;user=phone`), telephone-subscriber parameters in the
//! user part (`sip:0312345678;isub=1@pbx`), escaped headers (`?Replaces=…`, percent-encoded)
//! and header parameters after the URI. What a transfer needs is the target's user part (a
//! number, an agent's or a queue's name) and whether it asks for an attended transfer
//! (`Replaces`, RFC 3891).
//!
//! The reader is strict: anything else is a [`ReferToError`] and the REFER is refused (400,
//! or 416 for a scheme we cannot transfer to) without anything changing.

use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ReferToError {
    #[error("empty Refer-To")]
    Empty,
    #[error("malformed Refer-To: {0}")]
    Malformed(String),
    /// A URI we cannot transfer a call to (`http:`, `mailto:` …): answered 416.
    #[error("unsupported URI scheme {0:?} in Refer-To")]
    UnsupportedScheme(String),
}

/// A REFER's target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferTo {
    /// The URI as written (between the angle brackets, if any).
    pub uri: String,
    /// The display name, unquoted, if any.
    pub display_name: Option<String>,
    /// The URI's user part, percent-decoded and without telephone-subscriber parameters:
    /// who the call is transferred to. None for a URI without one (`sip:pbx.example`).
    pub user: Option<String>,
    /// The `Replaces` header escaped in the URI (attended transfer), percent-decoded.
    pub replaces: Option<String>,
}

fn bad(why: impl Into<String>) -> ReferToError {
    ReferToError::Malformed(why.into())
}

/// Reads a `Refer-To` header value.
pub fn parse_refer_to(value: &str) -> Result<ReferTo, ReferToError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ReferToError::Empty);
    }
    let (display_name, uri, rest) = if let Some(quoted) = value.strip_prefix('"') {
        let (name, after) = quoted_string(quoted)?;
        let after = after.trim_start();
        let inner = after
            .strip_prefix('<')
            .ok_or_else(|| bad("a display name must be followed by <URI>"))?;
        let (uri, rest) = inner.split_once('>').ok_or_else(|| bad("no closing '>'"))?;
        (Some(name), uri, rest)
    } else if let Some(lt) = value.find('<') {
        let name = value[..lt].trim();
        if !name
            .split_whitespace()
            .all(|w| w.bytes().all(is_token_char))
        {
            return Err(bad(format!(
                "display name {name:?} must be a token or quoted"
            )));
        }
        let (uri, rest) = value[lt + 1..]
            .split_once('>')
            .ok_or_else(|| bad("no closing '>'"))?;
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        ((!name.is_empty()).then_some(name), uri, rest)
    } else {
        // addr-spec: a URI with ';', '?' or ',' must be in angle brackets (RFC 3261 §20),
        // so whatever follows a ';' here is a header parameter.
        let (uri, rest) = match value.find(';') {
            Some(i) => (&value[..i], &value[i..]),
            None => (value, ""),
        };
        if uri.contains(['?', ',', '>']) {
            return Err(bad("a URI with headers must be enclosed in <>"));
        }
        (None, uri, rest)
    };
    let rest = rest.trim();
    if !(rest.is_empty() || rest.starts_with(';')) {
        return Err(bad(format!("unexpected {rest:?} after the URI")));
    }
    let uri = uri.trim();
    if uri.is_empty() || uri.contains(char::is_whitespace) {
        return Err(bad(format!("bad URI {uri:?}")));
    }
    let (user, replaces) = read_uri(uri)?;
    Ok(ReferTo {
        uri: uri.to_string(),
        display_name,
        user,
        replaces,
    })
}

/// The contents of a quoted string (after its opening quote) and what follows it.
fn quoted_string(s: &str) -> Result<(String, &str), ReferToError> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(bad("unterminated quoted display name"))
}

/// RFC 3261 `token` characters.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// The user part and the `Replaces` header of a sip:, sips: or tel: URI.
fn read_uri(uri: &str) -> Result<(Option<String>, Option<String>), ReferToError> {
    let (scheme, rest) = uri
        .split_once(':')
        .ok_or_else(|| bad(format!("{uri:?} has no scheme")))?;
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "tel" => {
            let number = rest.split(';').next().unwrap_or_default();
            let number = percent_decode(number)?;
            if number.is_empty() {
                return Err(bad("tel: URI without a number"));
            }
            Ok((Some(number), None))
        }
        "sip" | "sips" => {
            let (main, headers) = match rest.split_once('?') {
                Some((m, h)) => (m, Some(h)),
                None => (rest, None),
            };
            // The user part may itself hold ';' (telephone-subscriber parameters), so the
            // last '@' before the headers ends it.
            let (userinfo, hostport) = match main.rfind('@') {
                Some(i) => (Some(&main[..i]), &main[i + 1..]),
                None => (None, main),
            };
            let host = hostport.split(';').next().unwrap_or_default();
            if host.is_empty() || host.starts_with(':') {
                return Err(bad(format!("{uri:?} has no host")));
            }
            let user = match userinfo {
                Some(u) => {
                    // user[:password], then telephone-subscriber parameters.
                    let u = u.split(':').next().unwrap_or_default();
                    let u = u.split(';').next().unwrap_or_default();
                    let u = percent_decode(u)?;
                    if u.is_empty() {
                        return Err(bad(format!("{uri:?} has an empty user part")));
                    }
                    Some(u)
                }
                None => None,
            };
            let mut replaces = None;
            for h in headers.into_iter().flat_map(|h| h.split('&')) {
                let (name, value) = h.split_once('=').unwrap_or((h, ""));
                if percent_decode(name)?.eq_ignore_ascii_case("replaces") {
                    replaces = Some(percent_decode(value)?);
                }
            }
            Ok((user, replaces))
        }
        "" => Err(bad(format!("{uri:?} has no scheme"))),
        other => Err(ReferToError::UnsupportedScheme(other.to_string())),
    }
}

/// `%XX` escapes (RFC 3986) decoded; a broken escape or non-UTF-8 result is malformed.
fn percent_decode(s: &str) -> Result<String, ReferToError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(format!("bad escape in {s:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(format!("{s:?} is not UTF-8 once unescaped")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(v: &str) -> Option<String> {
        parse_refer_to(v)
            .unwrap_or_else(|e| panic!("{v}: {e}"))
            .user
    }

    #[test]
    fn every_legal_form_names_its_target() {
        for (value, want) in [
            ("<sip:billing@127.0.0.1:5060>", "billing"),
            ("sip:billing@127.0.0.1", "billing"),
            ("\"Billing\" <sip:billing@127.0.0.1:5060>", "billing"),
            ("\"Sales \\\"East\\\" <2>\" <sip:2001@pbx>", "2001"),
            ("Sales Desk <sip:2001@pbx>", "2001"),
            ("<sip:0120444555@10.0.0.1;user=phone>", "0120444555"),
            ("<sip:0312345678;isub=12@pbx;user=phone>", "0312345678"),
            ("<sips:tanaka@pbx;transport=tls>", "tanaka"),
            ("<tel:+81312345678>", "+81312345678"),
            ("tel:+81312345678;phone-context=+81", "+81312345678"),
            ("<sip:%2B81312345678@pbx>", "+81312345678"),
            ("<sip:tanaka:secret@pbx>", "tanaka"),
            ("  <SIP:support@pbx> ;method=INVITE  ", "support"),
            ("sip:support@pbx;method=INVITE", "support"),
            ("\"\" <sip:support@pbx>", "support"),
        ] {
            assert_eq!(user(value).as_deref(), Some(want), "{value}");
        }
        let r = parse_refer_to("\"Sales \\\"East\\\"\" <sip:2001@pbx>").unwrap();
        assert_eq!(r.display_name.as_deref(), Some("Sales \"East\""));
        assert_eq!(r.uri, "sip:2001@pbx");
    }

    #[test]
    fn replaces_is_read_from_escaped_headers() {
        let r = parse_refer_to(
            "<sip:tanaka@pbx?Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2&Require=replaces>",
        )
        .unwrap();
        assert_eq!(r.user.as_deref(), Some("tanaka"));
        assert_eq!(r.replaces.as_deref(), Some("abc@host;to-tag=1;from-tag=2"));
        assert_eq!(
            parse_refer_to("<sip:tanaka@pbx?Subject=hi>")
                .unwrap()
                .replaces,
            None
        );
    }

    #[test]
    fn a_uri_without_user_is_legal_but_names_nobody() {
        assert_eq!(user("<sip:pbx.example.com>"), None);
    }

    #[test]
    fn malformed_values_are_refused() {
        assert_eq!(parse_refer_to("  "), Err(ReferToError::Empty));
        for v in [
            "<>",
            "<sip:billing@host",
            "\"Billing <sip:billing@host>",
            "\"Billing\" sip:billing@host",
            "Bill@ing <sip:billing@host>",
            "<sip:billing@host> junk",
            "sip:billing@host?Replaces=x",
            "<sip:@host>",
            "<sip:billing@>",
            "<sip:bil ling@host>",
            "<sip:%zzbilling@host>",
            "<billing>",
            "<tel:>",
        ] {
            assert!(
                matches!(parse_refer_to(v), Err(ReferToError::Malformed(_))),
                "{v}: {:?}",
                parse_refer_to(v)
            );
        }
        assert_eq!(
            parse_refer_to("<http://example.com/>"),
            Err(ReferToError::UnsupportedScheme("http".into()))
        );
    }
}
