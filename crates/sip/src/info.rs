//! Keys sent as SIP INFO bodies (RFC 6086 without an Info package, as phones and gateways
//! send them). Two body types are in use:
//!
//! * `application/dtmf-relay` — lines `Signal=5` and `Duration=160`. The signal is a key
//!   (`0`-`9`, `*`, `#`, `A`-`D`) or, from many gateways, the RFC 4733 event code
//!   (`10` = `*`, `11` = `#`, `12`-`15` = `A`-`D`).
//! * `application/dtmf` — the body is just the key (`5`, `*`) or its event code (`11`).
//!
//! The reader is strict: a body that names no key, or names something that is neither a
//! key nor an event code, is malformed (400); another content type is not understood (415,
//! with the types we read in `Accept`).

use thiserror::Error;

/// The content types whose keys we read, for the `Accept` header of a 415.
pub const ACCEPTED: &str = "application/dtmf-relay, application/dtmf";

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum InfoError {
    /// A body of a type we do not read (answered 415 with [`ACCEPTED`]).
    #[error("unsupported INFO content type {0:?}")]
    UnsupportedType(String),
    /// A body of a type we read, but which names no key (answered 400).
    #[error("malformed {kind} body: {why}")]
    Malformed { kind: &'static str, why: String },
}

/// What an INFO request carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoBody {
    /// A key press.
    Key(char),
    /// No body at all (a keep-alive, RFC 6086 §4.2.1): answered 200, nothing to do.
    Empty,
}

/// Reads an INFO request's body. `content_type` is the header's value (parameters and case
/// do not matter), None when the request has none.
pub fn read_info(content_type: Option<&str>, body: &[u8]) -> Result<InfoBody, InfoError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(InfoBody::Empty);
    }
    let media_type = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let text = std::str::from_utf8(body).map_err(|_| InfoError::Malformed {
        kind: "INFO",
        why: "not UTF-8".into(),
    })?;
    match media_type.as_str() {
        "application/dtmf-relay" => dtmf_relay(text).map(InfoBody::Key),
        "application/dtmf" => key("application/dtmf", text.trim()).map(InfoBody::Key),
        _ => Err(InfoError::UnsupportedType(media_type)),
    }
}

/// The `Signal=` line of an `application/dtmf-relay` body.
fn dtmf_relay(text: &str) -> Result<char, InfoError> {
    const KIND: &str = "application/dtmf-relay";
    let mut signal = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(InfoError::Malformed {
                kind: KIND,
                why: format!("line {line:?} is not name=value"),
            });
        };
        if name.trim().eq_ignore_ascii_case("signal") {
            if signal.is_some() {
                return Err(InfoError::Malformed {
                    kind: KIND,
                    why: "more than one Signal".into(),
                });
            }
            signal = Some(value.trim());
        }
    }
    let signal = signal.ok_or_else(|| InfoError::Malformed {
        kind: KIND,
        why: "no Signal line".into(),
    })?;
    key(KIND, signal)
}

/// A key, or an RFC 4733 event code 0-15, as the key it stands for.
pub fn key(kind: &'static str, value: &str) -> Result<char, InfoError> {
    let bad = |why: String| InfoError::Malformed { kind, why };
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Err(bad("empty key".into())),
        (Some(c), None) => match c.to_ascii_uppercase() {
            c @ ('0'..='9' | '*' | '#' | 'A'..='D') => Ok(c),
            _ => Err(bad(format!("{value:?} is not a key"))),
        },
        // Two or more characters: only an event code (10-15; "05" is 5) can be meant.
        _ => match value.parse::<u8>() {
            Ok(code) => event_key(code).ok_or_else(|| bad(format!("event {code} is not a key"))),
            Err(_) => Err(bad(format!("{value:?} is not a key"))),
        },
    }
}

/// The key of an RFC 4733 DTMF event code (0-9, 10 = `*`, 11 = `#`, 12-15 = `A`-`D`).
pub fn event_key(code: u8) -> Option<char> {
    b"0123456789*#ABCD"
        .get(usize::from(code))
        .map(|&b| b as char)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: Option<&str> = Some("application/dtmf-relay");
    const DTMF: Option<&str> = Some("application/dtmf");

    fn k(ct: Option<&str>, body: &str) -> Result<InfoBody, InfoError> {
        read_info(ct, body.as_bytes())
    }

    #[test]
    fn dtmf_relay_keys_and_event_codes() {
        for (signal, want) in [
            ("5", '5'),
            ("0", '0'),
            ("*", '*'),
            ("#", '#'),
            ("a", 'A'),
            ("D", 'D'),
            ("10", '*'),
            ("11", '#'),
            ("12", 'A'),
            ("15", 'D'),
            ("05", '5'),
        ] {
            let body = format!("Signal={signal}\r\nDuration=160\r\n");
            assert_eq!(k(RELAY, &body), Ok(InfoBody::Key(want)), "Signal={signal}");
        }
        // Spaces, case, the Duration first, a charset parameter, LF-only lines.
        assert_eq!(
            k(
                Some("Application/DTMF-Relay; charset=utf-8"),
                "Duration= 250\nsignal = 11\n"
            ),
            Ok(InfoBody::Key('#'))
        );
    }

    #[test]
    fn application_dtmf_bodies() {
        for (body, want) in [
            ("5", '5'),
            ("*", '*'),
            ("#", '#'),
            ("11", '#'),
            ("10", '*'),
            ("7\r\n", '7'),
        ] {
            assert_eq!(k(DTMF, body), Ok(InfoBody::Key(want)), "{body:?}");
        }
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for body in [
            "Duration=160",
            "Signal=",
            "Signal=16",
            "Signal=E",
            "Signal=1\r\nSignal=2",
            "hello",
        ] {
            assert!(
                matches!(k(RELAY, body), Err(InfoError::Malformed { .. })),
                "{body:?}"
            );
        }
        for body in ["16", "x", "55 5", "-1"] {
            assert!(
                matches!(k(DTMF, body), Err(InfoError::Malformed { .. })),
                "{body:?}"
            );
        }
        assert!(matches!(
            read_info(DTMF, &[0xff, 0xfe]),
            Err(InfoError::Malformed { .. })
        ));
    }

    #[test]
    fn other_types_are_not_understood_and_empty_bodies_are_keepalives() {
        assert_eq!(
            k(Some("application/media_control+xml"), "<x/>"),
            Err(InfoError::UnsupportedType(
                "application/media_control+xml".into()
            ))
        );
        assert!(matches!(k(None, "5"), Err(InfoError::UnsupportedType(_))));
        assert_eq!(k(None, ""), Ok(InfoBody::Empty));
        assert_eq!(k(RELAY, "\r\n"), Ok(InfoBody::Empty));
    }
}
