//! A call arriving: its offer read (or ours made when it brought none), the call and its
//! contact created, then answered with the IVR started once the media is ready.

use std::sync::Arc;

use tsunagu_flow::{Flow, Run};
use tsunagu_media::g711::Law;
use tsunagu_media::sdp::{self, Direction};

use super::call::*;
use super::{negotiate, Switch};
use crate::io::*;

impl Switch {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn incoming(
        &mut self,
        leg: LegId,
        tenant_id: i64,
        caller: String,
        caller_name: Option<String>,
        called: String,
        offer: Option<String>,
        flow: Option<Arc<Flow>>,
    ) {
        let Some(flow) = flow else {
            self.out.push_back(Out::SipReject { leg, code: 404 });
            return;
        };
        let media = match offer.as_deref() {
            // No SDP: our offer goes in the 200, the caller's answer in the ACK.
            None => {
                self.offers.insert(leg, true);
                Media {
                    law: Law::Ulaw,
                    te: Some(self.cfg.telephone_event),
                    port: None,
                    remote: None,
                    peer_dir: Direction::SendRecv,
                    version: 1,
                }
            }
            Some(offer) => {
                match self.read_sdp(offer) {
                    Ok((o, law)) => {
                        let m = Media::from_offer(&o, law);
                        self.initial_offers.insert(leg, o);
                        m
                    }
                    Err(e) => {
                        // 400 for SDP we cannot read, 488 for one without anything we speak.
                        let code = negotiate::refusal(&e);
                        self.out.push_back(Out::SipReject { leg, code });
                        return;
                    }
                }
            }
        };
        let id = self.next_call;
        self.next_call += 1;
        let mut c = Call::new(
            id,
            CallKind::Inbound,
            leg,
            caller.clone(),
            caller_name.clone(),
        );
        c.flow = Some(Run::new(flow, &caller, &called));
        self.calls.insert(id, c);
        self.legs.insert(leg, (id, Role::Customer));
        self.media.insert(leg, media);
        self.out.push_back(Out::MediaCreate {
            leg,
            params: media.params(),
        });
        self.out.push_back(Out::CreateContact {
            call: id,
            tenant_id,
            caller,
            caller_name,
            called,
        });
    }

    pub(super) fn answer_inbound(&mut self, call: CallId, leg: LegId, now: i64) {
        let Some(m) = self.media.get(&leg).copied() else {
            return;
        };
        let answer = if self.offers.contains_key(&leg) {
            self.offer_in_answer(leg, &m)
        } else {
            let ours = self.local_audio(leg, &m, vec![m.law], m.te, m.peer_dir.reverse());
            match self.initial_offers.remove(&leg) {
                Some(offer) => sdp::write_answer(&ours, &offer),
                None => sdp::write(&ours),
            }
        };
        self.out.push_back(Out::SipAnswer { leg, sdp: answer });
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.phase = Phase::Ivr;
        if let Some(f) = c.flow.as_mut() {
            f.start(now);
        }
        self.run_flow(call);
    }
}
