//! RTCP (RFC 3550 §6): the sender reports we emit for each stream, with a reception block
//! on what we receive. [`report_blocks`] parses the reception blocks in a peer's compound
//! packet; it is kept for robustness (and exercised by tests) but nothing uses it yet: the
//! engine discards the RTCP it receives.

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

/// What we know about one received stream, to report it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    pub ssrc: u32,
    pub received: u64,
    base_seq: u32,
    /// Extended highest sequence number (cycles << 16 | seq).
    pub max_seq: u32,
    started: bool,
    /// RFC 3550 A.8 jitter estimate, scaled by 16.
    jitter_q4: u32,
    last_transit: i64,
    expected_prior: u64,
    received_prior: u64,
}

impl ReceiverStats {
    /// Accounts for one packet: its sequence number, its RTP timestamp and when it arrived
    /// (in the same 8 kHz clock).
    pub fn on_packet(&mut self, ssrc: u32, seq: u16, rtp_ts: u32, arrival_8k: i64) {
        if !self.started || ssrc != self.ssrc {
            *self = ReceiverStats {
                ssrc,
                base_seq: u32::from(seq),
                max_seq: u32::from(seq),
                started: true,
                ..Default::default()
            };
            self.last_transit = arrival_8k - i64::from(rtp_ts);
        } else {
            let max = (self.max_seq & 0xFFFF) as u16;
            let delta = seq.wrapping_sub(max);
            if delta < 0x8000 && delta != 0 {
                if seq < max {
                    self.max_seq = self.max_seq.wrapping_add(1 << 16);
                }
                self.max_seq = (self.max_seq & 0xFFFF_0000) | u32::from(seq);
            }
            let transit = arrival_8k - i64::from(rtp_ts);
            let d = (transit - self.last_transit).unsigned_abs() as u32;
            self.last_transit = transit;
            // J += (|D| - J) / 16, kept scaled by 16 (RFC 3550 A.8).
            let j = i64::from(self.jitter_q4);
            self.jitter_q4 = (j + i64::from(d) - ((j + 8) >> 4)).max(0) as u32;
        }
        self.received += 1;
    }

    pub fn expected(&self) -> u64 {
        if !self.started {
            return 0;
        }
        u64::from(self.max_seq.wrapping_sub(self.base_seq)) + 1
    }

    /// Packets lost so far (never negative: duplicates can make received exceed expected).
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    /// Jitter in RTP units (1/8000 s).
    pub fn jitter(&self) -> u32 {
        self.jitter_q4 >> 4
    }

    /// A report block, and the interval counters moved on.
    pub fn report(&mut self) -> ReportBlock {
        let expected = self.expected();
        let interval_expected = expected - self.expected_prior;
        let interval_received = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = interval_expected.saturating_sub(interval_received);
        let fraction = ((lost_interval << 8)
            .checked_div(interval_expected)
            .unwrap_or(0))
        .min(255) as u8;
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost: fraction,
            cumulative_lost: self.lost().min(0x7F_FFFF) as u32,
            highest_seq: self.max_seq,
            jitter: self.jitter(),
        }
    }
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
    fn counts_loss_and_wraparound() {
        let mut s = ReceiverStats::default();
        let mut arrival = 0i64;
        for (n, seq) in (65530u16..=65535).chain(0..10).enumerate() {
            arrival += 160;
            if seq == 3 || seq == 4 {
                continue; // two lost
            }
            s.on_packet(7, seq, (n as u32) * 160, arrival);
        }
        assert_eq!(s.expected(), 16);
        assert_eq!(s.lost(), 2);
        assert_eq!(s.jitter(), 0, "perfectly paced");
        let r = s.report();
        assert_eq!(r.cumulative_lost, 2);
        assert_eq!(r.fraction_lost, (2 * 256 / 16) as u8);
    }

    #[test]
    fn jitter_grows_with_uneven_arrival() {
        let mut s = ReceiverStats::default();
        for n in 0..200u32 {
            let wobble = if n % 2 == 0 { 0 } else { 80 }; // ±10 ms
            s.on_packet(1, n as u16, n * 160, i64::from(n * 160 + wobble));
        }
        assert!((60..=90).contains(&s.jitter()), "{}", s.jitter());
    }

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
