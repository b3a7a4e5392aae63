//! Our outgoing RTP stream of a leg (its own SSRC, sequence and timestamp whatever the
//! source, and the counts RTCP reports), and the small number helpers the core uses.

use crate::core::LegId;
use crate::rtp::RtpHeader;

/// One leg's outgoing stream.
#[derive(Debug)]
pub(crate) struct OutStream {
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
    pub packets: u32,
    pub octets: u32,
    /// Relay mapping: (source leg, source SSRC, timestamp offset).
    pub relay: Option<(LegId, u32, u32)>,
    pub marker: bool,
}

impl OutStream {
    /// The header of the next packet sent, with `len` payload bytes: moves the sequence
    /// number on, sets the marker if one is pending (or `marker`) and then clears it, and
    /// counts the packet and its payload for RTCP.
    pub fn next_header(
        &mut self,
        payload_type: u8,
        timestamp: u32,
        marker: bool,
        len: usize,
    ) -> RtpHeader {
        self.seq = self.seq.wrapping_add(1);
        let header = RtpHeader {
            marker: self.marker || marker,
            payload_type,
            sequence: self.seq,
            timestamp,
            ssrc: self.ssrc,
        };
        self.marker = false;
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(len as u32);
        header
    }
}

/// A splitmix64 step: SSRCs, initial sequence numbers and timestamps, comfort noise.
pub(crate) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// NTP time (RFC 3550 SR) from Unix milliseconds.
pub(crate) fn ntp(now_ms: i64) -> u64 {
    let secs = (now_ms / 1000) as u64 + 2_208_988_800;
    let frac = ((now_ms % 1000) as u64 * (1u64 << 32)) / 1000;
    (secs << 32) | frac
}
