//! What a leg receives from its peer, counted: the RTP sequence (RFC 3550 §6.4.1 and A.1 —
//! expected, lost, duplicated, out of order), the interarrival jitter of the *audio* packets,
//! and how many packets were audio and how many RFC 4733 telephone events.
//!
//! Jitter is computed over audio packets only. All packets of one key press carry the
//! timestamp of the press's start (RFC 4733 §2.5.1.2), so their transit times grow by the
//! packet interval with every packet; counted in, they made a caller pressing keys show
//! seconds of jitter. Events still count in the sequence (they share it with the audio), so
//! a lost event packet is a lost packet.

use crate::rtcp::ReportBlock;

/// A jump forward of this many sequence numbers or more starts a new stream (RFC 3550 A.1).
pub const MAX_DROPOUT: u16 = 3000;
/// A packet this many sequence numbers behind the highest or fewer is late, not a restart.
pub const MAX_MISORDER: u16 = 100;
/// Extended sequence numbers start one cycle up, so a late packet from before the first
/// one received still has a place below it.
const FIRST_CYCLE: u32 = 1 << 16;

/// Where a received packet stood in its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The first packet of a stream (a new SSRC, or the sequence restarted).
    First,
    /// A sequence number above every one received so far (packets in between are missing
    /// until they arrive late).
    InOrder,
    /// Below the highest received, not received before: it arrived out of order.
    Late,
    /// A sequence number already received.
    Duplicate,
}

/// The sequence of one RTP stream (one SSRC).
#[derive(Clone, Copy, Debug, Default)]
struct Sequence {
    ssrc: u32,
    base: u32,
    /// Extended highest sequence number (cycles << 16 | seq, from [`FIRST_CYCLE`]).
    max: u32,
    /// Bit `i` set: sequence number `max - i` was received (the last 128).
    seen: u128,
    /// Distinct sequence numbers received.
    received: u64,
    expected_prior: u64,
    received_prior: u64,
}

impl Sequence {
    fn start(ssrc: u32, seq: u16) -> Sequence {
        let ext = FIRST_CYCLE | u32::from(seq);
        Sequence {
            ssrc,
            base: ext,
            max: ext,
            seen: 1,
            received: 1,
            ..Default::default()
        }
    }

    /// Does `seq` of `ssrc` continue this stream (forward less than [`MAX_DROPOUT`], or back
    /// at most [`MAX_MISORDER`])?
    fn continues(&self, ssrc: u32, seq: u16) -> bool {
        let ahead = seq.wrapping_sub(self.max as u16);
        ssrc == self.ssrc && (ahead < MAX_DROPOUT || ahead >= 0u16.wrapping_sub(MAX_MISORDER))
    }

    /// Accounts for a packet that [`Sequence::continues`] the stream.
    fn on_packet(&mut self, seq: u16) -> Arrival {
        let ahead = seq.wrapping_sub(self.max as u16);
        if ahead == 0 {
            return Arrival::Duplicate;
        }
        if ahead < MAX_DROPOUT {
            self.max = self.max.wrapping_add(u32::from(ahead));
            self.seen = if ahead >= 128 {
                1
            } else {
                (self.seen << ahead) | 1
            };
            self.received += 1;
            return Arrival::InOrder;
        }
        let back = 0u16.wrapping_sub(ahead);
        let ext = self.max.wrapping_sub(u32::from(back));
        if back < 128 {
            let bit = 1u128 << back;
            if self.seen & bit != 0 {
                return Arrival::Duplicate;
            }
            self.seen |= bit;
        }
        if ext < self.base {
            // Earlier than the first packet received: the stream began before it.
            self.base = ext;
        }
        self.received += 1;
        Arrival::Late
    }

    fn expected(&self) -> u64 {
        u64::from(self.max - self.base) + 1
    }

    fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }
}

/// RFC 3550 §6.4.1 interarrival jitter of one audio stream, in timestamp units, kept scaled
/// by 16 as in RFC 3550 A.8.
#[derive(Clone, Copy, Debug, Default)]
struct Jitter {
    ssrc: u32,
    /// The previous audio packet: arrival and RTP timestamp, both in timestamp units.
    last: Option<(i64, u32)>,
    q4: u64,
}

impl Jitter {
    fn on_packet(&mut self, ssrc: u32, ts: u32, arrival: i64) {
        if self.last.is_none() || ssrc != self.ssrc {
            *self = Jitter {
                ssrc,
                last: Some((arrival, ts)),
                q4: 0,
            };
            return;
        }
        let (prev_arrival, prev_ts) = self.last.expect("checked");
        // D = (Rj - Ri) - (Sj - Si); the timestamp difference wraps like the timestamp.
        let d = (arrival - prev_arrival) - i64::from(ts.wrapping_sub(prev_ts) as i32);
        let d = d.unsigned_abs();
        // J += (|D| - J) / 16, with J kept as 16·J.
        self.q4 = (self.q4 + d).saturating_sub((self.q4 + 8) >> 4);
        self.last = Some((arrival, ts));
    }

    fn units(&self) -> u32 {
        (self.q4 >> 4).min(u64::from(u32::MAX)) as u32
    }
}

/// Everything a leg received from its peer, over the whole call (every SSRC it used).
#[derive(Clone, Debug, Default)]
pub struct Reception {
    seq: Option<Sequence>,
    jitter: Jitter,
    /// Packets lost in the peer's earlier streams.
    lost_before: u64,
    /// Audio packets (every payload type but telephone-event), duplicates left out.
    pub audio: u64,
    /// RFC 4733 telephone-event packets, duplicates left out.
    pub events: u64,
    /// Audio packets whose sequence number had been received already.
    pub duplicates: u64,
    /// Packets that arrived after one with a higher sequence number.
    pub out_of_order: u64,
}

impl Reception {
    /// Accounts for one packet from the peer: its SSRC, sequence number, RTP timestamp,
    /// whether it is a telephone event, and its arrival time in timestamp units (the
    /// payload's clock: 8000 per second for G.711 and telephone-event/8000).
    pub fn on_packet(
        &mut self,
        ssrc: u32,
        seq: u16,
        ts: u32,
        event: bool,
        arrival: i64,
    ) -> Arrival {
        let arrival_kind = match self.seq.as_mut() {
            Some(s) if s.continues(ssrc, seq) => s.on_packet(seq),
            previous => {
                self.lost_before += previous.map_or(0, |s| s.lost());
                self.seq = Some(Sequence::start(ssrc, seq));
                Arrival::First
            }
        };
        if arrival_kind == Arrival::Duplicate {
            // A key's end packet is repeated with one sequence number on purpose (RFC 4733
            // §2.5.1.4): not a duplicate worth counting.
            if !event {
                self.duplicates += 1;
            }
            return arrival_kind;
        }
        if arrival_kind == Arrival::Late {
            self.out_of_order += 1;
        }
        if event {
            self.events += 1;
        } else {
            self.audio += 1;
            self.jitter.on_packet(ssrc, ts, arrival);
        }
        arrival_kind
    }

    /// Packets received: audio and events (duplicates left out).
    pub fn received(&self) -> u64 {
        self.audio + self.events
    }

    /// Sequence numbers never received, over every stream of the call.
    pub fn lost(&self) -> u64 {
        self.lost_before + self.seq.map_or(0, |s| s.lost())
    }

    /// The audio's interarrival jitter, in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter.units()
    }

    /// A reception report block on the current stream (none before the first packet), and
    /// the interval counters moved on.
    pub fn report(&mut self) -> Option<ReportBlock> {
        let jitter = self.jitter();
        let s = self.seq.as_mut()?;
        let expected = s.expected();
        let interval_expected = expected.saturating_sub(s.expected_prior);
        let interval_received = s.received.saturating_sub(s.received_prior);
        s.expected_prior = expected;
        s.received_prior = s.received;
        let lost_interval = interval_expected.saturating_sub(interval_received);
        let fraction = ((lost_interval << 8)
            .checked_div(interval_expected)
            .unwrap_or(0))
        .min(255) as u8;
        Some(ReportBlock {
            ssrc: s.ssrc,
            fraction_lost: fraction,
            cumulative_lost: s.lost().min(0x7F_FFFF) as u32,
            // Reported without the cycle the count starts at.
            highest_seq: s.max.wrapping_sub(FIRST_CYCLE),
            jitter: if self.jitter.ssrc == s.ssrc {
                jitter
            } else {
                0
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_loss_across_the_sequence_wrap() {
        let mut r = Reception::default();
        let mut arrival = 0i64;
        for (n, seq) in (65530u16..=65535).chain(0..10).enumerate() {
            arrival += 160;
            if seq == 3 || seq == 4 {
                continue; // two lost
            }
            r.on_packet(7, seq, (n as u32) * 160, false, arrival);
        }
        assert_eq!(r.received(), 14);
        assert_eq!(r.lost(), 2);
        assert_eq!(r.jitter(), 0, "perfectly paced");
        let b = r.report().unwrap();
        assert_eq!(b.cumulative_lost, 2);
        assert_eq!(b.fraction_lost, (2 * 256 / 16) as u8);
        assert_eq!(b.highest_seq, (1 << 16) | 9, "one cycle");
    }

    #[test]
    fn jitter_grows_with_uneven_arrival() {
        let mut r = Reception::default();
        for n in 0..200u32 {
            let wobble = if n % 2 == 0 { 0 } else { 80 }; // ±10 ms
            r.on_packet(1, n as u16, n * 160, false, i64::from(n * 160 + wobble));
        }
        assert!((60..=90).contains(&r.jitter()), "{}", r.jitter());
    }

    #[test]
    fn a_timestamp_wrap_is_no_jitter() {
        let mut r = Reception::default();
        let start = u32::MAX - 5 * 160;
        for n in 0..20u32 {
            r.on_packet(
                1,
                n as u16,
                start.wrapping_add(n * 160),
                false,
                i64::from(n) * 160,
            );
        }
        assert_eq!(r.jitter(), 0);
    }

    #[test]
    fn duplicates_and_reordering_are_told_apart_from_loss() {
        let mut r = Reception::default();
        // 0..=9 with 3 lost, 5 twice, 8 before 7, and 1 again much later.
        let order = [0u16, 1, 2, 4, 5, 5, 6, 8, 7, 9, 1];
        let kinds: Vec<Arrival> = order
            .iter()
            .map(|&s| r.on_packet(9, 100 + s, u32::from(s) * 160, false, i64::from(s) * 160))
            .collect();
        assert_eq!(kinds[0], Arrival::First);
        assert_eq!(kinds[5], Arrival::Duplicate);
        assert_eq!(kinds[8], Arrival::Late);
        assert_eq!(kinds[10], Arrival::Duplicate);
        assert_eq!(r.received(), 9);
        assert_eq!(r.duplicates, 2);
        assert_eq!(r.out_of_order, 1);
        assert_eq!(r.lost(), 1);
    }

    #[test]
    fn a_late_first_packet_moves_the_start_back() {
        let mut r = Reception::default();
        for s in [5u16, 6, 4, 7] {
            r.on_packet(1, s, 0, false, 0);
        }
        assert_eq!((r.received(), r.lost(), r.out_of_order), (4, 0, 1));
    }

    #[test]
    fn key_presses_count_apart_and_leave_the_jitter_alone() {
        let mut r = Reception::default();
        let mut seq = 0u16;
        let mut t = 0i64;
        // 1 s of audio, a key press of 6 packets with one timestamp while the audio pauses,
        // then 1 s of audio again: the audio timestamps follow the clock.
        for _ in 0..50 {
            r.on_packet(3, seq, (t as u32) * 8, false, t * 8);
            seq += 1;
            t += 20;
        }
        let press = (t as u32) * 8;
        for _ in 0..6 {
            r.on_packet(3, seq, press, true, t * 8);
            seq += 1;
            t += 20;
        }
        for _ in 0..50 {
            r.on_packet(3, seq, (t as u32) * 8, false, t * 8);
            seq += 1;
            t += 20;
        }
        assert_eq!((r.audio, r.events, r.lost()), (100, 6, 0));
        assert_eq!(r.jitter(), 0);
    }

    #[test]
    fn a_new_ssrc_keeps_the_earlier_loss() {
        let mut r = Reception::default();
        for s in [0u16, 1, 3] {
            r.on_packet(1, s, 0, false, 0);
        }
        for s in [500u16, 501, 503] {
            r.on_packet(2, s, 0, false, 0);
        }
        assert_eq!((r.received(), r.lost()), (6, 2));
    }
}
