//! The session description carried by an INVITE, re-INVITE, UPDATE, ACK or 2xx.
//!
//! Most peers send a bare `application/sdp` body. Carriers interworking with ISUP (SIP-I,
//! SIP-T) send `multipart/mixed` with the SDP as one part beside `application/isup`; the
//! SDP is that part. Anything else is not a session description, and reading it as one
//! would take a stranger's bytes for an address: such a request is refused with 415 and
//! `Accept: application/sdp` (RFC 3261 §21.4.16), and nothing changes.
//!
//! MIME is parsed by `mailparse`; this module only decides which part is ours.

use thiserror::Error;

/// The content type we read session descriptions from, for the `Accept` header of a 415.
pub const ACCEPTED: &str = "application/sdp";

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum BodyError {
    /// A body of another type, or a multipart body without an SDP part.
    #[error("no application/sdp in a {0:?} body")]
    NotSdp(String),
    /// A multipart body that does not parse as MIME.
    #[error("malformed multipart body: {0}")]
    Malformed(String),
}

/// The media type of a Content-Type value, lower case, without parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Reads the SDP out of a message body. `content_type` is the header's value (None when
/// the message has none). An empty body is `Ok(None)`: no offer or answer.
///
/// A body without a Content-Type is read as SDP: RFC 3261 §20.15 requires the header, but
/// old gateways omit it and a bare SDP is all they ever send.
pub fn session_description(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Option<String>, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let Some(content_type) = content_type else {
        return Ok(Some(String::from_utf8_lossy(body).into_owned()));
    };
    let kind = media_type(content_type);
    if kind == ACCEPTED {
        return Ok(Some(String::from_utf8_lossy(body).into_owned()));
    }
    if !kind.starts_with("multipart/") {
        return Err(BodyError::NotSdp(kind));
    }
    // mailparse reads a whole MIME entity: give it the header that names the boundary.
    let mut entity = format!("Content-Type: {content_type}\r\n\r\n").into_bytes();
    entity.extend_from_slice(body);
    let parsed = mailparse::parse_mail(&entity).map_err(|e| BodyError::Malformed(e.to_string()))?;
    let sdp = parsed
        .subparts
        .iter()
        .find(|p| p.ctype.mimetype.eq_ignore_ascii_case(ACCEPTED))
        .ok_or_else(|| BodyError::NotSdp(kind.clone()))?;
    let text = sdp
        .get_body()
        .map_err(|e| BodyError::Malformed(e.to_string()))?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

    #[test]
    fn a_bare_sdp_body_is_read_whatever_the_case_and_parameters() {
        for ct in [
            Some("application/sdp"),
            Some("Application/SDP; charset=utf-8"),
            None,
        ] {
            assert_eq!(
                session_description(ct, SDP.as_bytes()),
                Ok(Some(SDP.into()))
            );
        }
        assert_eq!(session_description(Some("application/sdp"), b""), Ok(None));
        assert_eq!(session_description(None, b"\r\n"), Ok(None));
    }

    /// Regression: a SIP-I INVITE's multipart body (SDP and ISUP) was read whole as SDP
    /// and refused as malformed.
    #[test]
    fn the_sdp_part_of_a_multipart_body_is_read() {
        let body = format!(
            "--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\n{SDP}\
             --unique-boundary-1\r\nContent-Type: application/isup; version=itu-t92+\r\n\
             Content-Disposition: signal; handling=optional\r\n\r\n\x01\x00\x49\x00\r\n\
             --unique-boundary-1--\r\n"
        );
        let got = session_description(
            Some("multipart/mixed; boundary=unique-boundary-1"),
            body.as_bytes(),
        )
        .unwrap()
        .unwrap();
        assert!(
            got.starts_with("v=0\r\n") && got.contains("m=audio 4000"),
            "{got:?}"
        );
        assert!(!got.contains("isup"), "{got:?}");
    }

    /// Regression: any body was read as SDP, so a text/plain body's bytes were parsed for
    /// an address.
    #[test]
    fn other_bodies_are_not_session_descriptions() {
        assert_eq!(
            session_description(Some("text/plain"), SDP.as_bytes()),
            Err(BodyError::NotSdp("text/plain".into()))
        );
        let isup_only = "--b\r\nContent-Type: application/isup\r\n\r\n\x01\r\n--b--\r\n";
        assert_eq!(
            session_description(Some("multipart/mixed; boundary=b"), isup_only.as_bytes()),
            Err(BodyError::NotSdp("multipart/mixed".into()))
        );
    }
}
