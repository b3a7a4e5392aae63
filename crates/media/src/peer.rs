//! Who may send media to a leg: its peer, and nobody else (the "RTP bleed" class,
//! CVE-2017-14114).
//!
//! A leg's peer is the address its SDP names. Packets from it are taken from the first one
//! on; packets from any other address are dropped before anything reads them (playout,
//! relay, mix, recording, DTMF, figures, the RTP timeout) and counted as rejected.
//!
//! A peer behind NAT names an address it cannot be reached at. It is recognised when its
//! signalling comes from another IP than the SDP names (an SDP with a private address behind
//! a public one, for instance). For such a leg one other source may be latched, once per
//! offer/answer, and only under all of these rules:
//!
//! * it is on the IP the leg's SIP signalling comes from (or goes to, for legs we dial);
//! * it sends two valid RTP packets in a row: same SSRC, consecutive sequence numbers, a
//!   payload type the SDP negotiated (the audio law or telephone-event);
//! * within [`LATCH_WINDOW_MS`] of the offer/answer that set the SDP's address;
//! * nothing has been latched since that offer/answer, and the SDP's own address has not
//!   sent (then it is reachable as named and nothing needs latching).
//!
//! After that the leg never moves to another source until a new offer/answer
//! ([`Peer::set_sdp`]). RTCP follows the same rules on its own port (the SDP's `a=rtcp`, or
//! the RTP port + 1), and RTCP multiplexed on the RTP port (RFC 5761) is taken only from the
//! RTP peer.

use std::net::{IpAddr, SocketAddr};

use crate::rtp::RtpHeader;

/// How long after an offer/answer a peer behind NAT may be latched, in ms.
pub const LATCH_WINDOW_MS: i64 = 10_000;
/// At most one report of rejected packets per leg this often, in ms.
pub const NOTICE_INTERVAL_MS: i64 = 10_000;

/// Packets from strangers dropped on a leg, reported at most once per
/// [`NOTICE_INTERVAL_MS`] (the first one at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrangerNotice {
    pub leg: u64,
    /// The stranger most recently seen.
    pub from: SocketAddr,
    /// Rejected since the previous notice (this one included).
    pub dropped: u64,
    /// Rejected on this leg so far.
    pub total: u64,
}

/// What to do with an RTP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// From the peer.
    Accept,
    /// From a source just latched as the peer (behind NAT); the header of its first
    /// packet, held back on probation, comes along so it can be counted.
    Latched(RtpHeader, i64),
    /// Dropped: from a stranger, or a NAT candidate's first packet on probation.
    Reject(Option<StrangerNotice>),
}

/// A NAT candidate's first packet.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    from: SocketAddr,
    header: RtpHeader,
    arrival: i64,
}

/// The addresses a leg takes media from and sends it to.
#[derive(Clone, Debug, Default)]
pub(crate) struct Peer {
    leg: u64,
    /// What the SDP names (RTP, and RTCP: `a=rtcp` or RTP + 1).
    sdp_rtp: Option<SocketAddr>,
    sdp_rtcp: Option<SocketAddr>,
    /// The IP of the leg's SIP signalling.
    signalling: Option<IpAddr>,
    /// The peer now: where its media is taken from and ours goes.
    rtp: Option<SocketAddr>,
    rtcp: Option<SocketAddr>,
    /// Until when (ms) a NAT latch may happen, for RTP and for RTCP.
    rtp_window: Option<i64>,
    rtcp_window: Option<i64>,
    candidate: Option<Candidate>,
    /// Datagrams dropped (RTP and RTCP ports).
    pub rejected: u64,
    unreported: u64,
    next_notice: i64,
}

/// The canonical form of an IP (an IPv4-mapped IPv6 address as IPv4).
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    canonical(a) == canonical(b)
}

fn rtcp_of(rtp: SocketAddr) -> SocketAddr {
    SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1))
}

/// Does this look like an RTCP compound packet (version 2, a report or SDES/BYE/APP type,
/// a length that fits)?
pub(crate) fn valid_rtcp(data: &[u8]) -> bool {
    data.len() >= 8
        && data[0] >> 6 == 2
        && (200..=204).contains(&data[1])
        && (usize::from(u16::from_be_bytes([data[2], data[3]])) + 1) * 4 <= data.len()
}

impl Peer {
    pub fn new(leg: u64) -> Peer {
        Peer {
            leg,
            ..Default::default()
        }
    }

    /// A new offer/answer: the SDP names `rtp` (None: no address yet, nothing is taken)
    /// and `rtcp` (None: `rtp` + 1). A new address replaces the peer, and any latch with it;
    /// the same address keeps a latched peer. Either way a NAT latch may happen once more
    /// within [`LATCH_WINDOW_MS`] of `now`.
    pub fn set_sdp(&mut self, rtp: Option<SocketAddr>, rtcp: Option<SocketAddr>, now: i64) {
        let rtcp = rtcp.or_else(|| rtp.map(rtcp_of));
        if rtp != self.sdp_rtp {
            self.rtp = rtp;
            self.rtcp = rtcp;
        } else if rtcp != self.sdp_rtcp {
            self.rtcp = rtcp;
        }
        self.sdp_rtp = rtp;
        self.sdp_rtcp = rtcp;
        self.candidate = None;
        let window = rtp.map(|_| now + LATCH_WINDOW_MS);
        self.rtp_window = window;
        self.rtcp_window = window;
    }

    /// The IP the leg's SIP signalling comes from (or goes to).
    pub fn set_signalling(&mut self, ip: IpAddr) {
        self.signalling = Some(canonical(ip));
    }

    /// Where RTP goes.
    pub fn rtp(&self) -> Option<SocketAddr> {
        self.rtp
    }

    /// Where RTCP goes.
    pub fn rtcp(&self) -> Option<SocketAddr> {
        self.rtcp
    }

    /// Behind NAT: the SDP names another IP than the signalling's.
    fn behind_nat(&self) -> bool {
        match (self.signalling, self.sdp_rtp) {
            (Some(sig), Some(sdp)) => !same_ip(sig, sdp.ip()),
            _ => false,
        }
    }

    /// May `from` be latched now (NAT, the signalling's IP, the window still open)?
    fn may_latch(&self, from: SocketAddr, window: Option<i64>, now: i64) -> bool {
        self.behind_nat()
            && window.is_some_and(|until| now <= until)
            && self.signalling.is_some_and(|ip| same_ip(ip, from.ip()))
    }

    /// An RTP datagram from `from`; `header` when it parsed; `negotiated` the payload types
    /// the SDP agreed on.
    pub fn admit_rtp(
        &mut self,
        from: SocketAddr,
        header: Option<&RtpHeader>,
        negotiated: [Option<u8>; 2],
        now: i64,
    ) -> Verdict {
        if Some(from) == self.rtp {
            if Some(from) == self.sdp_rtp {
                // Reachable where the SDP says: nothing to latch.
                self.rtp_window = None;
                self.candidate = None;
            }
            return Verdict::Accept;
        }
        let fits = header.is_some_and(|h| negotiated.contains(&Some(h.payload_type)));
        if let (true, Some(h)) = (fits && self.may_latch(from, self.rtp_window, now), header) {
            let follows = self.candidate.is_some_and(|c| {
                c.from == from
                    && c.header.ssrc == h.ssrc
                    && c.header.sequence.wrapping_add(1) == h.sequence
            });
            if follows {
                let c = self.candidate.take().expect("checked");
                // Its first packet was counted as rejected while on probation.
                self.rejected = self.rejected.saturating_sub(1);
                self.rtp = Some(from);
                if self.rtcp == self.sdp_rtcp {
                    // Our RTCP goes beside the RTP until the peer's own RTCP is latched.
                    self.rtcp = Some(rtcp_of(from));
                }
                self.rtp_window = None;
                return Verdict::Latched(c.header, c.arrival);
            }
            // On probation: dropped, and counted as rejected until it is confirmed, but not
            // reported (it is most likely the peer itself).
            self.candidate = Some(Candidate {
                from,
                header: *h,
                arrival: now,
            });
            self.rejected += 1;
            return Verdict::Reject(None);
        }
        Verdict::Reject(self.reject(from, now))
    }

    /// An RTCP datagram on the leg's RTCP port.
    pub fn admit_rtcp(
        &mut self,
        from: SocketAddr,
        data: &[u8],
        now: i64,
    ) -> Result<(), Option<StrangerNotice>> {
        if Some(from) == self.rtcp {
            if Some(from) == self.sdp_rtcp {
                self.rtcp_window = None;
            }
            return Ok(());
        }
        if valid_rtcp(data) && self.may_latch(from, self.rtcp_window, now) {
            self.rtcp = Some(from);
            self.rtcp_window = None;
            return Ok(());
        }
        Err(self.reject(from, now))
    }

    /// RTCP multiplexed on the RTP port (RFC 5761): only from the RTP peer.
    pub fn admit_muxed_rtcp(
        &mut self,
        from: SocketAddr,
        now: i64,
    ) -> Result<(), Option<StrangerNotice>> {
        if Some(from) == self.rtp {
            return Ok(());
        }
        Err(self.reject(from, now))
    }

    fn reject(&mut self, from: SocketAddr, now: i64) -> Option<StrangerNotice> {
        self.rejected += 1;
        self.unreported += 1;
        if now < self.next_notice {
            return None;
        }
        self.next_notice = now + NOTICE_INTERVAL_MS;
        let dropped = std::mem::take(&mut self.unreported);
        Some(StrangerNotice {
            leg: self.leg,
            from,
            dropped,
            total: self.rejected,
        })
    }
}
