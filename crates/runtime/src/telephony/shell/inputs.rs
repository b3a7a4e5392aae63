//! What reaches the shell: messages from its channels, SIP events, the center's directives
//! for calls. Each is turned into inputs of the sans-IO switch.

use super::*;

impl Shell {
    pub(super) fn handle(&mut self, m: Msg) {
        let t = now();
        match m {
            Msg::Sip(ev) => self.sip_event(ev),
            Msg::Engine(EngineEvent::Media(ev)) => {
                if let tsunagu_media::core::MediaEvent::Latched { leg, addr } = &ev {
                    // Media now goes to an address no SDP names: worth a line when auditing.
                    info!(leg, %addr, "peer behind NAT latched: media follows its source");
                }
                self.switch.handle_media(ev, t)
            }
            Msg::Engine(EngineEvent::RecordingFinished {
                recording,
                duration_ms,
                ..
            }) => {
                let _ = self.recordings.send(RecJob::Finish {
                    id: recording as i64,
                    ended_at: t,
                    duration_ms: duration_ms as i64,
                    status: "complete",
                });
            }
            Msg::Engine(EngineEvent::RecordingFailed { recording, message }) => {
                warn!(recording, "recording failed: {message}");
                let _ = self.recordings.send(RecJob::Finish {
                    id: recording as i64,
                    ended_at: t,
                    duration_ms: 0,
                    status: "failed",
                });
            }
            Msg::Directive(tenant, d) => self.directive(tenant, d),
            Msg::Command(cmd, reply) => {
                let r = match cmd {
                    crate::telephony::CallCommand::Outbound { contact, .. }
                        if !self.room_for_a_call() =>
                    {
                        self.count_refusal();
                        warn!(
                            contact,
                            "click-to-call refused: at the limit of calls or the center is behind"
                        );
                        Err(crate::telephony::TelephonyError::Overloaded)
                    }
                    crate::telephony::CallCommand::Outbound {
                        tenant_id,
                        contact,
                        agent,
                        number,
                        record,
                    } => self
                        .start_outbound(
                            tenant_id,
                            CallKind::ClickToCall,
                            contact,
                            agent,
                            &number,
                            record,
                            t,
                        )
                        .map(|_| ())
                        .map_err(crate::telephony::TelephonyError::Call),
                    other => other
                        .apply(&mut self.switch, t)
                        .map_err(crate::telephony::TelephonyError::Call),
                };
                let _ = reply.send(r);
            }
            Msg::Incoming(i) => {
                let i = *i;
                self.admitting -= 1;
                self.signalling.insert(i.leg, i.source.ip());
                self.switch.handle_sip(
                    SipIn::Incoming {
                        leg: i.leg,
                        tenant_id: i.tenant_id,
                        caller: i.caller,
                        caller_name: i.caller_name,
                        called: i.called,
                        offer: i.offer,
                        flow: i.flow,
                        call_id: i.call_id,
                    },
                    t,
                );
            }
            Msg::ContactCreated {
                tenant,
                call,
                contact,
            } => {
                // The tenant comes with the message: the call may be over already (the
                // caller hung up while the contact was being written), and its contact
                // must still be closed in the right tenant.
                self.contact_tenant.insert(contact, tenant);
                self.switch
                    .handle_center(CenterIn::ContactCreated { call, contact }, t);
            }
            Msg::Center(ev) => {
                self.switch.handle_center(ev, t);
            }
            Msg::CallFailed { call, cause } => {
                warn!(call, "call dropped: {cause}");
                self.switch.fail_call(call, &cause, t);
            }
            Msg::Located { leg, targets } => self.switch.handle_located(leg, targets, t),
            Msg::Http { call, result } => self.switch.handle_http(call, result, t),
            Msg::Refer {
                contact,
                agent,
                leg,
                target,
            } => match target {
                Err((code, why)) => self.switch.refer_failed(leg, code, &why, t),
                Ok(ReferTarget::Queue(queue_id)) => match self.contact_tenant.get(&contact) {
                    Some(&tenant) => {
                        // Carried out when the center moves the contact (the switch then
                        // tells the phone); refused, it is reported as failed.
                        let then: Then = Some(Box::new(move |r| match r {
                            Ok(_) => None,
                            Err(e) => Some(Msg::ReferFailed {
                                leg,
                                code: 503,
                                reason: e.to_string(),
                            }),
                        }));
                        self.center(
                            tenant,
                            Pending::Ready(VoiceCommand::TransferToQueue {
                                contact,
                                agent,
                                queue_id,
                            }),
                            then,
                        );
                    }
                    None => self
                        .switch
                        .refer_failed(leg, 503, "no tenant for the contact", t),
                },
                Ok(ReferTarget::Agent(a)) => self.switch.refer_transfer(leg, Party::Agent(a), t),
                Ok(ReferTarget::Number(n)) => self.switch.refer_transfer(leg, Party::Number(n), t),
            },
            Msg::ReferFailed { leg, code, reason } => {
                warn!(leg, "transfer from the phone refused: {reason}");
                self.switch.refer_failed(leg, code, &reason, t);
            }
            Msg::MediaStats {
                contact,
                role,
                stats,
            } => {
                // No warning when the tenant is gone: the call's figures may come late.
                if let Some(tenant) = self.contact_tenant.get(&contact).copied() {
                    let data = serde_json::json!({
                        "leg": role,
                        "packets_sent": stats.sent,
                        // Audio only: key presses are dtmf_packets.
                        "packets_received": stats.received,
                        "dtmf_packets": stats.dtmf,
                        "packets_lost": stats.lost,
                        "duplicate_packets": stats.duplicates,
                        "out_of_order_packets": stats.out_of_order,
                        // Of the audio only.
                        "jitter_ms": (stats.jitter_ms * 10.0).round() / 10.0,
                        "malformed": stats.malformed,
                        // From addresses in no SDP, dropped.
                        "rejected_packets": stats.rejected,
                    });
                    self.center(
                        tenant,
                        Pending::Ready(VoiceCommand::Event {
                            contact,
                            kind: EventKind::Media,
                            agent: None,
                            data,
                        }),
                        None,
                    );
                }
            }
            Msg::Publish { tenant, envelope } => {
                let center = self.center.clone();
                tokio::spawn(async move {
                    if let Ok(h) = center.tenant(tenant).await {
                        h.publish(*envelope);
                    }
                });
            }
            Msg::Region { tenant, region } => {
                self.regions.insert(tenant, region);
            }
            Msg::Stats(reply) => {
                let trunks = self
                    .sip
                    .trunk_registrations()
                    .into_iter()
                    .map(|s| crate::telephony::TrunkStatus {
                        trunk: s.trunk,
                        state: s.state.into(),
                        code: s.code,
                        expires: s.expires,
                        at_ms: s.at,
                    })
                    .collect();
                let trunk_health = self
                    .sip
                    .trunk_health()
                    .into_iter()
                    .map(|h| crate::telephony::TrunkHealth {
                        trunk: h.trunk,
                        state: h.state.into(),
                        code: h.code,
                        rtt_ms: h.rtt_ms,
                        at_ms: h.at,
                    })
                    .collect();
                let _ = reply.send(TelephonyStats {
                    calls: self.switch.call_count(),
                    legs: self.switch.leg_count(),
                    refused_calls: self.refused_calls + self.sip.refused_overload(),
                    trunks,
                    trunk_health,
                });
            }
            Msg::Shutdown(_) => {}
        }
    }

    pub(super) fn sip_event(&mut self, ev: SipEvent) {
        let t = now();
        let sip = match ev {
            SipEvent::Incoming {
                leg,
                tenant_id,
                trunk,
                caller,
                caller_name,
                called,
                source,
                offer,
                call_id,
            } => {
                if !self.room_for_a_call() {
                    self.count_refusal();
                    warn!(leg, tenant_id, %trunk, calls = self.switch.call_count(),
                        backlog = self.link.as_ref().map_or(0, CenterLink::backlog),
                        "incoming call refused with 503: at the limit of calls or the center is behind");
                    self.sip.reject(leg, 503);
                    return;
                }
                self.admitting += 1;
                info!(leg, tenant_id, %trunk, %source, %caller, %called, "incoming call");
                // The caller's number without SIP user parameters (`;cpc=ordinary`); a
                // caller presenting no number is `anonymous`, never digits made of letters.
                let caller = tsunagu_domain::phone::sip_caller(&caller)
                    .unwrap_or_else(|| "anonymous".into());
                let flows = self.flows.clone();
                let tx = self.tx.clone();
                let region = self.region(tenant_id);
                tokio::spawn(async move {
                    let flow = match flows.for_number(tenant_id, &called, &region).await {
                        Ok(f) => f,
                        Err(e) => {
                            warn!(tenant_id, %called, "no usable flow: {e}");
                            None
                        }
                    };
                    let _ = tx
                        .send(Msg::Incoming(Box::new(Incoming {
                            leg,
                            tenant_id,
                            caller,
                            caller_name,
                            called,
                            offer,
                            call_id,
                            flow,
                            source,
                        })))
                        .await;
                });
                return;
            }
            SipEvent::Ringing { leg } => SipIn::Ringing { leg },
            SipEvent::Answered { leg, answer } => SipIn::Answered { leg, answer },
            SipEvent::Failed { leg, code, reason } => SipIn::Failed { leg, code, reason },
            SipEvent::Ended { leg, cause } => {
                self.signalling.remove(&leg);
                let cause = match cause {
                    EndCause::Bye => "bye".to_string(),
                    EndCause::Cancel => "cancel".to_string(),
                    EndCause::Timeout => "timeout".to_string(),
                    EndCause::Other(s) => s,
                };
                SipIn::Ended { leg, cause }
            }
            SipEvent::Update { leg, offer } => SipIn::Update { leg, offer },
            SipEvent::OfferWanted { leg } => SipIn::OfferWanted { leg },
            SipEvent::AckAnswer { leg, answer } => SipIn::AckAnswer { leg, answer },
            SipEvent::Dtmf { leg, digit } => SipIn::Dtmf { leg, digit },
            SipEvent::Refer { leg, refer_to } => {
                info!(leg, uri = %refer_to.uri, "REFER from a phone");
                SipIn::Refer {
                    leg,
                    target: refer_to.user,
                    attended: refer_to.replaces.is_some(),
                }
            }
            SipEvent::Registered {
                tenant_id,
                agent_id,
                username,
                bindings,
            } => {
                info!(tenant_id, agent_id, %username, bindings, "phone registration");
                return;
            }
        };
        self.switch.handle_sip(sip, t);
    }

    pub(super) fn directive(&mut self, tenant: i64, d: VoiceDirective) {
        let t = now();
        match d {
            VoiceDirective::Offer {
                contact,
                agent,
                agent_name,
                callback,
                record,
            } => {
                // The tenant must be known before the call's first output (a callback
                // attempt looks up the agent's phone in the tenant's directory).
                self.contact_tenant.insert(contact, tenant);
                match self.switch.handle_offer(
                    contact,
                    agent,
                    agent_name,
                    callback.as_deref(),
                    record,
                    t,
                ) {
                    Ok(Some(call)) => {
                        self.call_tenant.insert(call, tenant);
                    }
                    Ok(None) => {}
                    Err(e) => debug!(contact, "callback not started: {e}"),
                }
            }
            VoiceDirective::OfferWithdrawn { contact, agent } => self
                .switch
                .handle_center(CenterIn::OfferWithdrawn { contact, agent }, t),
            VoiceDirective::MaxWait { contact } => {
                self.switch.handle_center(CenterIn::MaxWait { contact }, t)
            }
            VoiceDirective::Ended { contact } => {
                self.switch.handle_center(CenterIn::Ended { contact }, t)
            }
            VoiceDirective::Transferred { contact } => self
                .switch
                .handle_center(CenterIn::Transferred { contact }, t),
            VoiceDirective::Resync { live } => {
                let ours = self
                    .switch
                    .contacts()
                    .into_iter()
                    .filter(|c| self.contact_tenant.get(c) == Some(&tenant))
                    .collect();
                let live = live
                    .into_iter()
                    .map(|(contact, state)| (contact, live_call(state)))
                    .collect();
                info!(tenant, "the center resynchronised: checking its calls");
                self.switch
                    .handle_center(CenterIn::Resync { live, ours }, t)
            }
        }
    }

    /// Starts the call of an outbound contact (click-to-call, or a callback offered to an
    /// agent). The call's tenant must be known before its first output (the agent's phone
    /// is looked up in the tenant's directory).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_outbound(
        &mut self,
        tenant: i64,
        kind: CallKind,
        contact: ContactId,
        agent: i64,
        number: &str,
        record: bool,
        t: i64,
    ) -> Result<u64, tsunagu_voice::CallError> {
        self.contact_tenant.insert(contact, tenant);
        let call = self
            .switch
            .start_outbound(kind, contact, agent, number, None, record, t)?;
        self.call_tenant.insert(call, tenant);
        Ok(call)
    }
}
