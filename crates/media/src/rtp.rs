//! RTP (RFC 3550) packet headers: parse without copying, write into a buffer.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RtpError {
    #[error("packet shorter than an RTP header")]
    TooShort,
    #[error("RTP version {0} (only 2 exists)")]
    Version(u8),
    #[error("header extension or CSRC list runs past the packet")]
    Truncated,
    #[error("padding larger than the payload")]
    Padding,
}

/// The fields of an RTP header that matter here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// A parsed packet: the header and where the payload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub header: RtpHeader,
    pub payload: &'a [u8],
}

pub const HEADER_LEN: usize = 12;

/// Parses an RTP packet. CSRCs and header extensions are skipped; padding is removed.
pub fn parse(data: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    if data.len() < HEADER_LEN {
        return Err(RtpError::TooShort);
    }
    let version = data[0] >> 6;
    if version != 2 {
        return Err(RtpError::Version(version));
    }
    let padding = data[0] & 0x20 != 0;
    let extension = data[0] & 0x10 != 0;
    let csrc_count = usize::from(data[0] & 0x0F);
    let mut offset = HEADER_LEN + 4 * csrc_count;
    if data.len() < offset {
        return Err(RtpError::Truncated);
    }
    if extension {
        if data.len() < offset + 4 {
            return Err(RtpError::Truncated);
        }
        let words = usize::from(u16::from_be_bytes([data[offset + 2], data[offset + 3]]));
        offset += 4 + 4 * words;
        if data.len() < offset {
            return Err(RtpError::Truncated);
        }
    }
    let mut end = data.len();
    if padding {
        let pad = usize::from(data[end - 1]);
        if pad == 0 || end < offset + pad {
            return Err(RtpError::Padding);
        }
        end -= pad;
    }
    Ok(RtpPacket {
        header: RtpHeader {
            marker: data[1] & 0x80 != 0,
            payload_type: data[1] & 0x7F,
            sequence: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
        },
        payload: &data[offset..end],
    })
}

/// Appends a 12-byte header (no CSRC, no extension, no padding).
pub fn write_header(h: &RtpHeader, out: &mut Vec<u8>) {
    out.push(0x80);
    out.push(if h.marker { 0x80 } else { 0 } | (h.payload_type & 0x7F));
    out.extend_from_slice(&h.sequence.to_be_bytes());
    out.extend_from_slice(&h.timestamp.to_be_bytes());
    out.extend_from_slice(&h.ssrc.to_be_bytes());
}

/// A whole packet.
pub fn build(h: &RtpHeader, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    write_header(h, &mut out);
    out.extend_from_slice(payload);
    out
}

/// Is this datagram RTCP rather than RTP (RFC 5761 demultiplexing by payload type)?
pub fn looks_like_rtcp(data: &[u8]) -> bool {
    data.len() >= 2 && (192..=223).contains(&data[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 65535,
            timestamp: 0xDEAD_BEEF,
            ssrc: 42,
        };
        let p = build(&h, &[1, 2, 3]);
        let parsed = parse(&p).unwrap();
        assert_eq!(parsed.header, h);
        assert_eq!(parsed.payload, &[1, 2, 3]);
    }

    #[test]
    fn csrc_extension_and_padding() {
        let mut p = vec![0x80 | 0x20 | 0x10 | 0x01, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        p.extend_from_slice(&[9, 9, 9, 9]); // one CSRC
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 7, 7, 7, 7]); // extension of one word
        p.extend_from_slice(&[0xAA, 0xBB]); // payload
        p.extend_from_slice(&[0, 0, 3]); // padding of 3
        let parsed = parse(&p).unwrap();
        assert_eq!(parsed.payload, &[0xAA, 0xBB]);
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(parse(&[0x80; 5]), Err(RtpError::TooShort));
        assert_eq!(parse(&[0x40; 12]), Err(RtpError::Version(1)));
        assert_eq!(
            parse(&[0x8F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::Truncated)
        );
        let mut p = vec![0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 200];
        assert_eq!(parse(&p), Err(RtpError::Padding));
        p[13] = 0;
        assert_eq!(parse(&p), Err(RtpError::Padding));
    }
}
