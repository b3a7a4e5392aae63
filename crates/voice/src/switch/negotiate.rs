//! SDP offer/answer (RFC 3264) after a leg is up, in every shape a peer may use:
//!
//! * a re-INVITE or UPDATE with an offer (hold, resume, a new address, other codecs): the
//!   answer is made from what was offered — the first offered law we speak, the offerer's
//!   telephone-event type — and the media follows; an offer with nothing we speak is
//!   refused (488) and an unreadable one too (400), leaving the call and its media as they
//!   were;
//! * a re-INVITE without SDP: our offer (every law we speak) goes in the 200 and the answer
//!   comes in the ACK; an unusable answer leaves the session as it was;
//! * an initial INVITE without SDP (`incoming`): the same, and a call whose ACK brings no
//!   usable answer has no media at all, so it ends.
//!
//! A new address in an offer or answer is what moves the media engine's peer (it takes RTP
//! only from the address the SDP names), so every accepted SDP is passed on with
//! `MediaUpdate`.

use tsunagu_media::g711::Law;
use tsunagu_media::sdp::{self, AudioOffer, Direction, SdpError};

use super::call::*;
use super::Switch;
use crate::io::*;

/// How a SIP request whose SDP cannot be used is refused: 400 when it cannot be read, 488
/// when it can but offers nothing we can take.
pub(super) fn refusal(e: &SdpError) -> u16 {
    match e {
        SdpError::Malformed { .. } | SdpError::NoAddress => 400,
        SdpError::NoAudio
        | SdpError::NoCommonCodec
        | SdpError::Transport(_)
        | SdpError::AddressFamily(_) => 488,
    }
}

/// The other G.711 law (offered second).
fn other(law: Law) -> Law {
    if law == Law::Ulaw {
        Law::Alaw
    } else {
        Law::Ulaw
    }
}

/// The direction a peer declared, with a null address (RFC 3264 §8.4, the old way to
/// hold) read as "do not send to me".
fn peer_direction(o: &AudioOffer) -> Direction {
    let null = o.rtp.ip().is_unspecified() || o.rtp.port() == 0;
    match (null, o.direction) {
        (false, d) => d,
        (true, Direction::SendRecv | Direction::SendOnly) => Direction::SendOnly,
        (true, Direction::RecvOnly | Direction::Inactive) => Direction::Inactive,
    }
}

impl Switch {
    /// Reads a peer's SDP (offer or answer): its first usable audio stream and the first
    /// law of it we speak, at an address our media engine can reach.
    pub(super) fn read_sdp(&self, body: &str) -> Result<(AudioOffer, Law), SdpError> {
        let o = sdp::parse(body)?;
        let ip = o.rtp.ip();
        if !ip.is_unspecified() && ip.is_ipv6() != self.cfg.media_ip.is_ipv6() {
            return Err(SdpError::AddressFamily(ip));
        }
        let law = o.choose_law()?;
        Ok((o, law))
    }

    /// A re-INVITE or UPDATE with an offer.
    pub(super) fn update(&mut self, leg: LegId, offer: &str) {
        let Some(m) = self
            .legs
            .get(&leg)
            .and_then(|_| self.media.get(&leg))
            .copied()
        else {
            self.out.push_back(Out::SipRefuseUpdate { leg, code: 481 });
            return;
        };
        let o = match self.read_sdp(offer) {
            Ok(x) => x,
            Err(e) => {
                // Nothing changes: not the media, not the call (RFC 3264 §8).
                self.out.push_back(Out::SipRefuseUpdate {
                    leg,
                    code: refusal(&e),
                });
                return;
            }
        };
        let (o, law) = o;
        let m = self.apply_remote_sdp(leg, &o, law, m);
        let ours = self.local_audio(leg, &m, vec![law], m.te, m.peer_dir.reverse());
        let answer = sdp::write_answer(&ours, &o);
        self.out
            .push_back(Out::SipAnswerUpdate { leg, sdp: answer });
    }

    /// A re-INVITE without SDP: we offer (RFC 3261 §14.2), the answer comes in the ACK.
    pub(super) fn offer_wanted(&mut self, leg: LegId) {
        let te = self.cfg.telephone_event;
        let Some(m) = self.legs.get(&leg).and_then(|_| self.media.get_mut(&leg)) else {
            self.out.push_back(Out::SipRefuseUpdate { leg, code: 481 });
            return;
        };
        m.version += 1;
        let m = *m;
        let offer = self.local_sdp(
            leg,
            &m,
            vec![m.law, other(m.law)],
            Some(m.te.unwrap_or(te)),
            Direction::SendRecv,
        );
        self.offers.insert(leg, false);
        self.out.push_back(Out::SipAnswerUpdate { leg, sdp: offer });
    }

    /// Our offer in an INVITE's 2xx (`initial`: the answer to a call without SDP).
    pub(super) fn offer_in_answer(&self, leg: LegId, m: &Media) -> String {
        self.local_sdp(
            leg,
            m,
            vec![m.law, other(m.law)],
            Some(m.te.unwrap_or(self.cfg.telephone_event)),
            Direction::SendRecv,
        )
    }

    /// The ACK of a 2xx that carried our offer, with the peer's answer.
    pub(super) fn ack_answer(&mut self, leg: LegId, answer: Option<&str>) {
        let Some(initial) = self.offers.remove(&leg) else {
            return; // not waiting for one: an ACK like any other
        };
        let Some(&(call, _)) = self.legs.get(&leg) else {
            return;
        };
        let Some(m) = self.media.get(&leg).copied() else {
            return;
        };
        let parsed = answer.map(|a| self.read_sdp(a));
        match parsed {
            Some(Ok((o, law))) => {
                self.apply_remote_sdp(leg, &o, law, m);
            }
            // A call answered without SDP whose ACK brings none it can use has no media.
            _ if initial => self.end_call(call, Side::System, "no_sdp_answer", None),
            // A re-INVITE's: the session stays as it was.
            _ => {}
        }
    }

    /// Takes a peer's accepted SDP (an offer we answer, or an answer to our offer): the law,
    /// the telephone-event type, the address and direction; the media engine follows, and
    /// an agent's phone holding or resuming puts the customer on hold or takes them off.
    fn apply_remote_sdp(&mut self, leg: LegId, o: &AudioOffer, law: Law, old: Media) -> Media {
        let dir = peer_direction(o);
        let null = o.rtp.ip().is_unspecified() || o.rtp.port() == 0;
        let m = Media {
            law,
            te: o.telephone_event,
            port: old.port,
            // A null address keeps the old one (nothing is sent to it meanwhile).
            remote: if null { old.remote } else { Some(o.rtp) },
            peer_dir: dir,
            version: old.version + 1,
        };
        self.media.insert(leg, m);
        self.out.push_back(Out::MediaUpdate {
            leg,
            params: m.params(),
        });
        let was_hold = !old.peer_dir.peer_receives();
        let hold = !dir.peer_receives();
        if let Some(&(call, Role::Agent(agent))) = self.legs.get(&leg) {
            let change = self
                .calls
                .get(&call)
                .is_some_and(|c| hold != was_hold && c.held != hold && c.phase == Phase::Connected);
            if change {
                self.set_held(call, hold, Some(agent), "phone");
            }
        }
        m
    }
}
