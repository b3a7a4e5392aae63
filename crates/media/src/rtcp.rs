//! RTCP (RFC 3550 §6): the sender reports we emit for each stream, with a reception block
//! on what we receive (counted in [`crate::reception`]). [`report_blocks`] parses the
//! reception blocks in a peer's compound packet; it is kept for robustness (and exercised by
//! tests) but nothing uses it yet: the core takes the peer's RTCP (and drops strangers') but
//! reads nothing in it.

/// One reception report block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    pub cumulative_lost: u32,
    pub highest_seq: u32,
    /// Interarrival jitter in RTP timestamp units (1/8000 s for G.711).
    pub jitter: u32,
}

fn put_block(b: &ReportBlock, out: &mut Vec<u8>) {
    out.extend_from_slice(&b.ssrc.to_be_bytes());
    out.push(b.fraction_lost);
    out.extend_from_slice(&b.cumulative_lost.to_be_bytes()[1..]);
    out.extend_from_slice(&b.highest_seq.to_be_bytes());
    out.extend_from_slice(&b.jitter.to_be_bytes());
    out.extend_from_slice(&[0; 8]); // LSR, DLSR: not tracked
}

/// A compound packet: a sender report (with a reception block if we receive) and an SDES
/// CNAME, as RFC 3550 requires.
pub fn sender_report(
    ssrc: u32,
    ntp: u64,
    rtp_ts: u32,
    packets: u32,
    octets: u32,
    block: Option<&ReportBlock>,
    cname: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(80);
    let rc = u8::from(block.is_some());
    let words = 6 + 6 * u16::from(rc);
    out.push(0x80 | rc);
    out.push(200);
    out.extend_from_slice(&words.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&ntp.to_be_bytes());
    out.extend_from_slice(&rtp_ts.to_be_bytes());
    out.extend_from_slice(&packets.to_be_bytes());
    out.extend_from_slice(&octets.to_be_bytes());
    if let Some(b) = block {
        put_block(b, &mut out);
    }
    // SDES: one chunk, CNAME item, null-terminated and padded to 32 bits.
    let name = &cname.as_bytes()[..cname.len().min(255)];
    let mut chunk = Vec::with_capacity(8 + name.len());
    chunk.extend_from_slice(&ssrc.to_be_bytes());
    chunk.push(1);
    chunk.push(name.len() as u8);
    chunk.extend_from_slice(name);
    chunk.push(0);
    while chunk.len() % 4 != 0 {
        chunk.push(0);
    }
    out.push(0x81);
    out.push(202);
    out.extend_from_slice(&((chunk.len() / 4) as u16).to_be_bytes());
    out.extend_from_slice(&chunk);
    out
}

/// The reception report blocks in a compound RTCP packet (from SRs and RRs).
pub fn report_blocks(data: &[u8]) -> Vec<ReportBlock> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 <= data.len() {
        let count = usize::from(data[i] & 0x1F);
        let pt = data[i + 1];
        let len = (usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]])) + 1) * 4;
        if data[i] >> 6 != 2 || i + len > data.len() {
            break;
        }
        let first = match pt {
            200 => Some(i + 28),
            201 => Some(i + 8),
            _ => None,
        };
        if let Some(mut b) = first {
            for _ in 0..count {
                if b + 24 > i + len {
                    break;
                }
                let d = &data[b..b + 24];
                out.push(ReportBlock {
                    ssrc: u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
                    fraction_lost: d[4],
                    cumulative_lost: u32::from_be_bytes([0, d[5], d[6], d[7]]),
                    highest_seq: u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
                    jitter: u32::from_be_bytes([d[12], d[13], d[14], d[15]]),
                });
                b += 24;
            }
        }
        i += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_report_round_trip() {
        let b = ReportBlock {
            ssrc: 9,
            fraction_lost: 12,
            cumulative_lost: 3,
            highest_seq: 70000,
            jitter: 40,
        };
        let p = sender_report(5, 1 << 40, 1234, 10, 1600, Some(&b), "tsunagu@example");
        assert_eq!(p.len() % 4, 0);
        assert_eq!(report_blocks(&p), vec![b]);
        assert!(crate::rtp::looks_like_rtcp(&p));
        assert!(
            report_blocks(&[0x80, 200, 0, 50]).is_empty(),
            "truncated is ignored"
        );
    }
}
