//! Agreeing with the center again after it rebuilt a tenant's state from its database while
//! calls went on (a step the database refused, a panic in the tenant's actor). Where a call
//! can follow the center's record it does; a call that cannot is ended with the cause
//! `resync`, and a contact whose call is gone is ended with `call_lost`, so that nothing is
//! left half open on either side.

use std::collections::HashSet;

use serde_json::json;

use super::call::*;
use super::Switch;
use crate::io::*;

impl Switch {
    pub(super) fn resync(&mut self, live: Vec<(ContactId, LiveCall)>, ours: Vec<ContactId>) {
        let listed: HashSet<ContactId> = live.iter().map(|&(c, _)| c).collect();
        for (contact, state) in live {
            match self.contacts.get(&contact) {
                Some(&call) => self.resync_call(call, state),
                // A callback request waits without a call; any other call's end was lost.
                None if state == LiveCall::CallbackWaiting => {}
                None => {
                    self.out.push_back(Out::Event {
                        contact,
                        kind: "hangup",
                        agent: None,
                        data: json!({ "side": "system", "cause": "call_lost" }),
                    });
                    self.out.push_back(Out::EndContact {
                        contact,
                        side: Side::System,
                        cause: "call_lost".into(),
                    });
                }
            }
        }
        for contact in ours {
            if listed.contains(&contact) {
                continue;
            }
            let Some(&call) = self.contacts.get(&contact) else {
                continue;
            };
            let Some(c) = self.calls.get_mut(&call) else {
                continue;
            };
            // Calls whose contact the center closed on purpose go on without it.
            if c.contact_closed || c.callback_requested || c.phase == Phase::External {
                continue;
            }
            // The center has no open contact for this call: the call cannot go on.
            c.contact_closed = true;
            self.end_call(call, Side::System, "resync", None);
        }
    }

    fn resync_call(&mut self, call: CallId, state: LiveCall) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let agrees = match state {
            LiveCall::Ivr => matches!(c.phase, Phase::Answering | Phase::Ivr),
            LiveCall::Waiting => c.phase == Phase::Queued,
            LiveCall::CallbackWaiting => {
                if c.kind == CallKind::Callback {
                    // This attempt's offer no longer stands; the request waits again.
                    self.discard(call);
                    return;
                }
                c.phase == Phase::Queued
            }
            // The center confirmed the answer; the confirmation is on its way.
            LiveCall::Talking { agent }
                if c.phase == Phase::Queued
                    && c.rings.iter().any(|r| r.agent == agent && r.answered) =>
            {
                true
            }
            LiveCall::Talking { agent } => {
                c.agent_id() == Some(agent)
                    && matches!(
                        c.phase,
                        Phase::AgentFirst
                            | Phase::DialingCustomer
                            | Phase::Connected
                            | Phase::Transferring
                    )
            }
        };
        if !agrees {
            self.end_call(call, Side::System, "resync", None);
            return;
        }
        if matches!(state, LiveCall::Waiting | LiveCall::CallbackWaiting) {
            // No offer stands: phones still ringing for it stop; the ACD offers it again.
            self.drop_rings(call);
        }
    }
}
