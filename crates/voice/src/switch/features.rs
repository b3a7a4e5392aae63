//! In-call features, commanded from the API: hold, recording pause, monitoring,
//! consultation with attended transfer or conference, blind transfer, hang-up. Also what
//! happens when a party of a talking call leaves.

use serde_json::json;

use super::call::*;
use super::Switch;
use crate::error::CallError;
use crate::io::*;

fn party_json(p: &Party) -> serde_json::Value {
    match p {
        Party::Agent(a) => json!({ "agent_id": a }),
        Party::Number(n) => json!({ "number": n }),
    }
}

impl Switch {
    /// A call the caller just found (a vanished one is an error, not a panic).
    fn call_ref(&self, call: CallId) -> Result<&Call, CallError> {
        self.calls.get(&call).ok_or(CallError::Ended)
    }

    fn call_mut(&mut self, call: CallId) -> Result<&mut Call, CallError> {
        self.calls.get_mut(&call).ok_or(CallError::Ended)
    }

    fn connected_call(&self, contact: ContactId) -> Result<CallId, CallError> {
        let call = *self.contacts.get(&contact).ok_or(CallError::NoCall)?;
        if self
            .calls
            .get(&call)
            .is_some_and(|c| c.phase == Phase::Connected && c.agent.is_some())
        {
            Ok(call)
        } else {
            Err(CallError::NotConnected)
        }
    }

    /// Whether the agent's phone is taken: ringing for an offer, talking, monitoring, or
    /// being consulted or transferred to. Such a phone is not dialed for another call — it
    /// would ring busy, and the request would be answered as if it had been carried out.
    pub fn agent_on_a_call(&self, agent: AgentId) -> bool {
        let party = Party::Agent(agent);
        self.legs.values().any(
            |(_, r)| matches!(r, Role::Ring(a) | Role::Agent(a) | Role::Monitor(a) if *a == agent),
        ) || self.dials.values().any(|d| d.party == party)
            || self.calls.values().any(|c| {
                c.consult.as_ref().is_some_and(|k| k.party == party)
                    || c.blind.as_ref().is_some_and(|b| b.0 == party)
            })
    }

    /// Refuses to dial an agent whose phone is taken (see [`Switch::agent_on_a_call`]).
    fn check_free(&self, party: &Party) -> Result<(), CallError> {
        match party {
            Party::Agent(a) if self.agent_on_a_call(*a) => Err(CallError::AgentBusy(*a)),
            _ => Ok(()),
        }
    }

    /// Hold (the customer hears music, the agent nothing) or resume.
    pub fn hold(&mut self, contact: ContactId, on: bool, now: i64) -> Result<(), CallError> {
        self.now = now.max(self.now);
        let call = self.connected_call(contact)?;
        let c = self.call_ref(call)?;
        if c.held != on {
            let agent = c.agent_id();
            self.set_held(call, on, agent, "api");
        }
        self.after_step();
        Ok(())
    }

    /// Puts the customer on hold or takes them off it; `by` says from where ("api",
    /// "phone"). The callers check that this is a change.
    pub(super) fn set_held(&mut self, call: CallId, on: bool, agent: Option<AgentId>, by: &str) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.held = on;
        }
        self.event(
            call,
            if on { "held" } else { "resumed" },
            agent,
            json!({ "by": by }),
        );
        self.refresh_sources(call);
    }

    /// Pauses the call's recording (e.g. while a card number is read out) or resumes it.
    pub fn pause_recording(
        &mut self,
        contact: ContactId,
        paused: bool,
        now: i64,
    ) -> Result<(), CallError> {
        self.now = now.max(self.now);
        let call = self.connected_call(contact)?;
        let rec = self
            .call_ref(call)?
            .recording
            .ok_or(CallError::NotRecorded)?;
        self.out.push_back(Out::RecordPause {
            recording: rec,
            paused,
        });
        let action = if paused { "paused" } else { "resumed" };
        self.event(
            call,
            "recording",
            None,
            json!({ "action": action, "recording": rec }),
        );
        self.after_step();
        Ok(())
    }

    /// A supervisor starts (or changes) monitoring the call: their phone rings, and once
    /// answered they hear the call (and, per mode, are heard). The timeline records the
    /// monitoring when the phone answers (`monitor` with the mode), a mode change made while
    /// it is up, and a phone that never answers (`monitor` with `state: failed`) — never a
    /// request as if it had been carried out.
    pub fn monitor(
        &mut self,
        contact: ContactId,
        supervisor: AgentId,
        mode: MonitorMode,
        now: i64,
    ) -> Result<(), CallError> {
        self.now = now.max(self.now);
        let call = self.connected_call(contact)?;
        let c = self.call_mut(call)?;
        if c.agent_id() == Some(supervisor) {
            return Err(CallError::MonitorOwnCall);
        }
        if let Some(m) = c.monitors.iter_mut().find(|m| m.supervisor == supervisor) {
            m.mode = mode;
            if m.up {
                self.event(
                    call,
                    "monitor",
                    Some(supervisor),
                    json!({ "mode": mode.as_str() }),
                );
            }
        } else {
            self.check_free(&Party::Agent(supervisor))?;
            let leg = self.dial(call, Role::Monitor(supervisor), Party::Agent(supervisor));
            let c = self.call_mut(call)?;
            c.monitors.push(Monitor {
                supervisor,
                leg,
                mode,
                up: false,
            });
        }
        self.refresh_sources(call);
        self.after_step();
        Ok(())
    }

    /// The supervisor's phone answered: the monitoring begins.
    pub(super) fn monitor_answered(&mut self, call: CallId, supervisor: AgentId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(m) = c.monitors.iter_mut().find(|m| m.supervisor == supervisor) else {
            return;
        };
        m.up = true;
        let mode = m.mode;
        self.event(
            call,
            "monitor",
            Some(supervisor),
            json!({ "mode": mode.as_str() }),
        );
        self.refresh_sources(call);
    }

    /// The supervisor's phone did not answer (declined, no answer in time, unreachable).
    pub(super) fn monitor_failed(
        &mut self,
        call: CallId,
        supervisor: AgentId,
        code: u16,
        reason: &str,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(i) = c.monitors.iter().position(|m| m.supervisor == supervisor) else {
            return;
        };
        let m = c.monitors.remove(i);
        self.event(
            call,
            "monitor",
            Some(supervisor),
            json!({ "mode": m.mode.as_str(), "state": "failed", "sip_code": code, "reason": reason }),
        );
        self.refresh_sources(call);
    }

    pub fn stop_monitor(
        &mut self,
        contact: ContactId,
        supervisor: AgentId,
        now: i64,
    ) -> Result<(), CallError> {
        self.now = now.max(self.now);
        let call = *self.contacts.get(&contact).ok_or(CallError::NoCall)?;
        if !self
            .call_ref(call)?
            .monitors
            .iter()
            .any(|m| m.supervisor == supervisor)
        {
            return Err(CallError::NotMonitoring);
        }
        self.stop_monitor_leg(call, supervisor, true);
        self.after_step();
        Ok(())
    }

    pub(super) fn stop_monitor_leg(&mut self, call: CallId, supervisor: AgentId, hang_up: bool) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(i) = c.monitors.iter().position(|m| m.supervisor == supervisor) else {
            return;
        };
        let m = c.monitors.remove(i);
        self.forget_leg(m.leg, hang_up);
        // A phone still ringing was never monitoring: there is nothing to stop.
        if m.up {
            self.event(
                call,
                "monitor",
                Some(supervisor),
                json!({ "mode": "stopped" }),
            );
        }
        self.refresh_sources(call);
    }

    /// The agent calls someone while the customer waits with music (consultation).
    pub fn consult(&mut self, contact: ContactId, party: Party, now: i64) -> Result<(), CallError> {
        self.now = now.max(self.now);
        let call = self.connected_call(contact)?;
        let c = self.call_ref(call)?;
        if c.consult.is_some() {
            return Err(CallError::ConsultInProgress);
        }
        if matches!(party, Party::Agent(a) if Some(a) == c.agent_id()) {
            return Err(CallError::ConsultSelf);
        }
        self.check_free(&party)?;
        let c = self.call_ref(call)?;
        let held_before = c.held;
        let leg = self.dial(call, Role::Consult, party.clone());
        let c = self.call_mut(call)?;
        c.consult = Some(Consult {
            party: party.clone(),
            leg,
            up: false,
            conference: false,
            held_before,
        });
        let agent = c.agent_id();
        self.event(
            call,
            "consult",
            agent,
            json!({ "state": "dialing", "to": party_json(&party) }),
        );
        self.refresh_sources(call);
        self.after_step();
        Ok(())
    }

    pub(super) fn consult_answered(&mut self, call: CallId, leg: LegId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(k) = c.consult.as_mut().filter(|k| k.leg == leg) else {
            return;
        };
        k.up = true;
        let agent = c.agent_id();
        self.event(call, "consult", agent, json!({ "state": "talking" }));
        self.refresh_sources(call);
    }

    /// The consulted party left: back to the customer.
    pub(super) fn consult_gone(&mut self, call: CallId, leg: LegId, cause: &str) {
        self.consult_over(call, leg, json!({ "state": "ended", "cause": cause }));
    }

    /// The consulted party never answered (declined, no answer in time, unreachable): the
    /// consultation is recorded as failed, and the agent is back with the customer.
    pub(super) fn consult_failed(&mut self, call: CallId, leg: LegId, code: u16, reason: &str) {
        self.consult_over(
            call,
            leg,
            json!({ "state": "failed", "sip_code": code, "reason": reason }),
        );
    }

    fn consult_over(&mut self, call: CallId, leg: LegId, data: serde_json::Value) {
        self.forget_leg(leg, false);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(k) = c.consult.take_if(|k| k.leg == leg) else {
            return;
        };
        if !k.conference {
            c.held = k.held_before;
        }
        let agent = c.agent_id();
        self.event(call, "consult", agent, data);
        self.refresh_sources(call);
    }

    /// Ends the consultation and returns to the customer.
    pub fn consult_cancel(&mut self, contact: ContactId, now: i64) -> Result<(), CallError> {
        self.now = now.max(self.now);
        let call = self.connected_call(contact)?;
        let leg = self
            .call_ref(call)?
            .consult
            .as_ref()
            .map(|k| k.leg)
            .ok_or(CallError::NoConsultation)?;
        self.forget_leg(leg, true);
        self.consult_gone(call, leg, "cancelled");
        self.after_step();
        Ok(())
    }

    /// Joins the customer, the agent and the consulted party (3-way call).
    pub fn conference(&mut self, contact: ContactId, now: i64) -> Result<(), CallError> {
        self.now = now.max(self.now);
        let call = self.connected_call(contact)?;
        let c = self.call_mut(call)?;
        let k = c
            .consult
            .as_mut()
            .filter(|k| k.up)
            .ok_or(CallError::ConsultNotAnswered)?;
        k.conference = true;
        c.held = false;
        let agent = c.agent_id();
        self.event(call, "conference", agent, json!({ "state": "joined" }));
        self.refresh_sources(call);
        self.after_step();
        Ok(())
    }

    /// Attended transfer: the consulted party takes over the customer; the agent leaves.
    pub fn consult_complete(&mut self, contact: ContactId, now: i64) -> Result<(), CallError> {
        self.now = now.max(self.now);
        let call = self.connected_call(contact)?;
        if !self.call_ref(call)?.consult.as_ref().is_some_and(|k| k.up) {
            return Err(CallError::ConsultNotAnswered);
        }
        self.hand_over_to_consulted(call, true);
        self.after_step();
        Ok(())
    }

    fn hand_over_to_consulted(&mut self, call: CallId, hang_up_agent: bool) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(k) = c.consult.take() else { return };
        let Some((from, agent_leg)) = c.agent.take() else {
            return;
        };
        c.held = false;
        self.stop_recording(call);
        self.forget_leg(agent_leg, hang_up_agent);
        self.take_over(call, from, k.party, k.leg, "attended");
    }

    /// `party` on `leg` now has the customer: an agent takes over the contact; an external
    /// party ends it for the center while the call goes on.
    fn take_over(&mut self, call: CallId, from: AgentId, party: Party, leg: LegId, how: &str) {
        let Some(c) = self.calls.get_mut(&call) else {
            // The call is gone: the new party's leg has nothing to join.
            self.forget_leg(leg, true);
            return;
        };
        match party {
            Party::Agent(to) => {
                c.agent = Some((to, leg));
                c.phase = Phase::Connected;
                self.legs.insert(leg, (call, Role::Agent(to)));
                self.center(call, |ct| Out::Handover {
                    contact: ct,
                    from,
                    to,
                });
                self.refresh_sources(call);
                self.start_recording(call);
            }
            Party::Number(number) => {
                self.to_external(call, leg);
                let how = how.to_string();
                self.event(
                    call,
                    "external_transfer",
                    Some(from),
                    json!({ "to": number, "how": how }),
                );
                self.close_contact(call, Side::Agent, "transferred_external");
                self.refresh_sources(call);
            }
        }
    }

    /// The customer now talks to the external party on `leg`; no agent is involved any more.
    /// Only state: emits nothing (the caller refreshes the sources once it is done).
    // "to" as in "over to", not a conversion.
    #[allow(clippy::wrong_self_convention)]
    pub(super) fn to_external(&mut self, call: CallId, leg: LegId) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.external = Some(leg);
            c.phase = Phase::External;
        }
        self.legs.insert(leg, (call, Role::External));
    }

    /// The contact is over for the center while the call itself goes on.
    pub(super) fn close_contact(&mut self, call: CallId, side: Side, cause: &str) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.contact_closed {
            return;
        }
        c.contact_closed = true;
        let cause = cause.to_string();
        self.center(call, |ct| Out::EndContact {
            contact: ct,
            side,
            cause,
        });
    }

    /// Blind transfer: the agent leaves now; the target's phone rings while the customer
    /// hears music. A target that does not answer (an agent or a number) sends the call
    /// back to its queue.
    pub fn blind_transfer(
        &mut self,
        contact: ContactId,
        party: Party,
        now: i64,
    ) -> Result<(), CallError> {
        self.now = now.max(self.now);
        let call = self.connected_call(contact)?;
        let c = self.call_ref(call)?;
        if c.consult.is_some() {
            return Err(CallError::ConsultFirst);
        }
        if matches!(party, Party::Agent(a) if Some(a) == c.agent_id()) {
            return Err(CallError::TransferSelf);
        }
        self.check_free(&party)?;
        let (from, agent_leg) = self.call_ref(call)?.agent.ok_or(CallError::NotConnected)?;
        self.stop_recording(call);
        for m in self
            .call_ref(call)?
            .monitors
            .iter()
            .map(|m| m.supervisor)
            .collect::<Vec<_>>()
        {
            self.stop_monitor_leg(call, m, true);
        }
        // A phone that asked for this transfer hears it was carried out before its BYE.
        self.refer_succeeded(agent_leg);
        self.forget_leg(agent_leg, true);
        let leg = self.dial(call, Role::Blind, party.clone());
        let c = self.call_mut(call)?;
        c.agent = None;
        c.held = false;
        c.phase = Phase::Transferring;
        c.blind = Some((party.clone(), leg, from));
        self.event(
            call,
            "consult",
            Some(from),
            json!({ "state": "blind_transfer", "to": party_json(&party) }),
        );
        // A transfer out is recorded, and the contact closed, once the number answers:
        // until then it has not happened, and it may not (see `blind_failed`).
        self.refresh_sources(call);
        self.after_step();
        Ok(())
    }

    pub(super) fn blind_answered(&mut self, call: CallId, leg: LegId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some((party, _, from)) = c.blind.take_if(|b| b.1 == leg) else {
            return;
        };
        self.take_over(call, from, party, leg, "blind");
    }

    pub(super) fn blind_failed(&mut self, call: CallId, code: u16, reason: &str) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some((party, _, from)) = c.blind.take() else {
            return;
        };
        let reason = reason.to_string();
        self.event(
            call,
            "consult",
            Some(from),
            json!({ "state": "transfer_failed", "to": party_json(&party), "sip_code": code, "reason": reason }),
        );
        // Back to the queue it came from, keeping its place — whether an agent or a number
        // did not answer: the caller is not dropped for a transfer that did not happen.
        self.wait_in_queue(call);
        self.center(call, |ct| Out::Requeue { contact: ct });
    }

    /// The center moved the contact to a queue (transfer from the API or a phone): the
    /// agent's side of the call ends and the caller waits with music.
    pub(super) fn transferred(&mut self, contact: ContactId) {
        let Some(&call) = self.contacts.get(&contact) else {
            return;
        };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        match c.phase {
            Phase::Connected | Phase::Transferring => self.wait_in_queue(call),
            // A callback attempt ringing an agent: it waits as a callback again.
            Phase::AgentFirst | Phase::DialingCustomer if c.kind == CallKind::Callback => {
                self.discard(call)
            }
            _ => {}
        }
    }

    /// Takes every agent-side leg off the call and puts the caller back in the queue.
    fn wait_in_queue(&mut self, call: CallId) {
        self.stop_recording(call);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let agent_leg = c.agent.map(|a| a.1);
        let mut legs: Vec<LegId> = Vec::new();
        legs.extend(c.agent.take().map(|a| a.1));
        legs.extend(c.consult.take().map(|k| k.leg));
        legs.extend(c.blind.take().map(|b| b.1));
        legs.extend(std::mem::take(&mut c.monitors).into_iter().map(|m| m.leg));
        c.held = false;
        c.phase = Phase::Queued;
        c.queue = Some(QueueState::plain());
        // A phone that asked for this transfer hears it was carried out before its BYE.
        if let Some(a) = agent_leg {
            self.refer_succeeded(a);
        }
        for leg in legs {
            self.forget_leg(leg, true);
        }
        self.play_moh(call);
        self.schedule_announcement(call);
    }

    /// The agent's phone left a talking call.
    pub(super) fn agent_left(&mut self, call: CallId, leg: LegId, cause: &str) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.agent.is_none_or(|a| a.1 != leg) {
            self.forget_leg(leg, false);
            return;
        }
        // Hanging up during a consultation hands the customer to the consulted party.
        if c.phase == Phase::Connected && c.consult.as_ref().is_some_and(|k| k.up) {
            self.hand_over_to_consulted(call, false);
            return;
        }
        self.end_call(call, Side::Agent, cause, Some(leg));
    }

    /// Hangs up a call from outside it: its agent's screen or a supervisor (`by`).
    pub fn hangup(&mut self, contact: ContactId, by: Side, now: i64) -> Result<(), CallError> {
        self.now = now.max(self.now);
        let call = *self.contacts.get(&contact).ok_or(CallError::NoCall)?;
        self.end_call(call, by, "hangup", None);
        self.after_step();
        Ok(())
    }

    /// Hangs up every call (the server is stopping); their contacts close with `cause`.
    pub fn end_all(&mut self, cause: &str, now: i64) {
        self.now = now.max(self.now);
        let calls: Vec<CallId> = self.calls.keys().copied().collect();
        for call in calls {
            self.end_call(call, Side::System, cause, None);
        }
        self.after_step();
    }
}
