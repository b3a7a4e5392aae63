//! The IVR side of a call: carrying out the flow's steps, music and announcements while
//! queued, voicemail.

use serde_json::json;
use tsunagu_flow::{Input as FlowInput, Step};

use super::call::*;
use super::{Switch, Timer};
use crate::io::*;

fn number_prompt(prefix: &str, n: u32, max: u32, over: &str) -> String {
    if (1..=max).contains(&n) {
        format!("{prefix}_{n}")
    } else {
        over.to_string()
    }
}

impl Switch {
    /// Carries out the flow's steps until it waits for something.
    pub(super) fn run_flow(&mut self, call: CallId) {
        // Its deadline may have moved: `after_step` re-arms the calls noted here.
        self.flow_touched.push(call);
        loop {
            let Some(c) = self.calls.get_mut(&call) else {
                return;
            };
            let Some(step) = c.flow.as_mut().and_then(|f| f.poll_step()) else {
                return;
            };
            let leg = c.customer;
            match step {
                Step::Play {
                    prompts,
                    interruptible: _,
                } => {
                    let token = self.next_token;
                    self.next_token += 1;
                    c.play_token = Some(token);
                    if let Some(q) = c.queue.as_mut() {
                        q.announcing = None;
                    }
                    self.set_source(
                        call,
                        leg,
                        SourceSpec::Prompts {
                            prompts,
                            looped: false,
                            token,
                        },
                    );
                }
                Step::StopPlay => {
                    c.play_token = None;
                    self.set_source(call, leg, SourceSpec::Silence);
                }
                Step::Log {
                    node,
                    event,
                    detail,
                } => {
                    self.event(
                        call,
                        "ivr",
                        None,
                        json!({ "node": node, "event": event, "detail": detail }),
                    );
                }
                Step::Enqueue {
                    queue,
                    priority,
                    requirements,
                    moh,
                    announce_secs,
                    callback,
                } => {
                    c.phase = Phase::Queued;
                    c.queue = Some(QueueState {
                        moh,
                        announce_secs,
                        callback,
                        announcing: None,
                        awaiting_position: false,
                    });
                    let attributes = c
                        .flow
                        .as_ref()
                        .map(|f| serde_json::to_value(f.attributes()).unwrap_or_default())
                        .unwrap_or_default();
                    self.center(call, |ct| Out::Enqueue {
                        contact: ct,
                        queue,
                        priority,
                        requirements,
                        attributes,
                    });
                    self.play_moh(call);
                    self.schedule_announcement(call);
                }
                Step::Http {
                    url,
                    method,
                    body,
                    timeout_ms,
                } => {
                    self.out.push_back(Out::Http {
                        call,
                        url,
                        method,
                        body,
                        timeout_ms,
                    });
                }
                Step::Callback { queue } => {
                    c.callback_requested = true;
                    let number = c.customer_number.clone();
                    self.drop_rings(call);
                    self.center(call, |ct| Out::Callback {
                        contact: ct,
                        queue,
                        number,
                    });
                }
                Step::RecordVoicemail { queue, max_secs } => {
                    let rec = self.next_recording;
                    self.next_recording += 1;
                    c.voicemail = Some((rec, queue));
                    c.voicemail_gen += 1;
                    let g = c.voicemail_gen;
                    let contact = c.contact.unwrap_or(0);
                    self.set_source(call, leg, SourceSpec::Silence);
                    self.out.push_back(Out::RecordStart {
                        recording: rec,
                        contact,
                        left: leg,
                        right: leg,
                        voicemail: true,
                    });
                    let at = self.now + i64::from(max_secs) * 1000;
                    self.arm(at, call, Timer::VoicemailEnd(g));
                }
                Step::Transfer { number } => {
                    c.play_token = None;
                    let leg = self.dial(call, Role::Forward, Party::Number(number.clone()));
                    let Some(c) = self.calls.get_mut(&call) else {
                        return;
                    };
                    c.forward = Some(leg);
                    c.phase = Phase::Transferring;
                    self.event(
                        call,
                        "external_transfer",
                        None,
                        json!({ "to": number, "how": "ivr" }),
                    );
                    // The caller hears music while it rings.
                    self.refresh_sources(call);
                }
                Step::Hangup => {
                    self.end_call(call, Side::System, "ivr", None);
                    return;
                }
            }
        }
    }

    /// The number the IVR forwarded the caller to answered: the two talk, the contact is
    /// over (the center's part in the call has ended).
    pub(super) fn forward_answered(&mut self, call: CallId, leg: LegId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.forward != Some(leg) {
            return;
        }
        c.forward = None;
        if let Some(f) = c.flow.as_mut() {
            f.handle(FlowInput::TransferAnswered, self.now);
        }
        // Before the flow runs on: a hang-up step must find the call external.
        self.to_external(call, leg);
        self.run_flow(call);
        self.close_contact(call, Side::System, "forwarded_external");
        self.refresh_sources(call);
    }

    /// The forward did not answer: the flow goes on (its `on_failure`, or hang up).
    pub(super) fn forward_failed(&mut self, call: CallId, code: u16, reason: &str) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.forward.take().is_none() {
            return;
        }
        c.phase = Phase::Ivr;
        let leg = c.customer;
        if let Some(f) = c.flow.as_mut() {
            f.handle(
                FlowInput::TransferFailed(format!("{code} {reason}")),
                self.now,
            );
        }
        self.set_source(call, leg, SourceSpec::Silence);
        self.run_flow(call);
    }

    pub(super) fn play_done(&mut self, leg: LegId, token: u64) {
        let Some(&(call, Role::Customer)) = self.legs.get(&leg) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.play_token == Some(token) {
            c.play_token = None;
            c.sources.remove(&leg);
            if let Some(f) = c.flow.as_mut() {
                f.handle(FlowInput::PromptDone, self.now);
            }
            self.run_flow(call);
        } else if c
            .queue
            .as_ref()
            .is_some_and(|q| q.announcing == Some(token))
        {
            if let Some(q) = c.queue.as_mut() {
                q.announcing = None;
            }
            c.sources.remove(&leg);
            if c.phase == Phase::Queued {
                self.play_moh(call);
                self.schedule_announcement(call);
            }
        }
    }

    /// The caller's place in the queue came back: announce it, then music again.
    pub(super) fn position(&mut self, contact: ContactId, position: u32, wait_secs: u32) {
        let Some(&call) = self.contacts.get(&contact) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let lang = c.language();
        let phase = c.phase;
        let playing = c.play_token.is_some();
        let Some(q) = c.queue.as_mut().filter(|q| q.awaiting_position) else {
            return;
        };
        q.awaiting_position = false;
        if phase != Phase::Queued || playing {
            return;
        }
        let minutes = wait_secs.div_ceil(60).max(1);
        let mut prompts = vec![
            (
                lang.clone(),
                number_prompt("position", position, 10, "position_many"),
            ),
            (
                lang.clone(),
                number_prompt("wait", minutes, 10, "wait_long"),
            ),
        ];
        if q.callback {
            prompts.push((lang, "callback_offer".into()));
        }
        let token = self.next_token;
        self.next_token += 1;
        q.announcing = Some(token);
        let leg = c.customer;
        self.set_source(
            call,
            leg,
            SourceSpec::Prompts {
                prompts,
                looped: false,
                token,
            },
        );
    }

    pub(super) fn play_moh(&mut self, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let leg = c.customer;
        let moh = self.moh(call);
        self.set_source(call, leg, moh);
    }

    pub(super) fn schedule_announcement(&mut self, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(q) = c.queue.as_ref() else { return };
        if q.announce_secs == 0 {
            return;
        }
        c.announce_gen += 1;
        let at = self.now + i64::from(q.announce_secs) * 1000;
        let g = c.announce_gen;
        self.arm(at, call, Timer::Announce(g));
    }

    /// The message is complete (key `#` or time is up): keep it and go on with the flow.
    pub(super) fn finish_voicemail(&mut self, call: CallId) {
        if !self.stop_voicemail(call) {
            return;
        }
        if let Some(f) = self.calls.get_mut(&call).and_then(|c| c.flow.as_mut()) {
            f.handle(FlowInput::VoicemailDone, self.now);
        }
        self.run_flow(call);
    }

    /// Stops recording a message and hands it over. False if none was being recorded.
    pub(super) fn stop_voicemail(&mut self, call: CallId) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        let Some((rec, queue)) = c.voicemail.take() else {
            return false;
        };
        c.voicemail_gen += 1;
        c.left_voicemail = true;
        let caller = c.customer_number.clone();
        self.out.push_back(Out::RecordStop { recording: rec });
        self.center(call, |ct| Out::Voicemail {
            contact: ct,
            queue,
            recording: rec,
            caller,
        });
        true
    }
}
