//! Carrying out the switch's outputs: SIP commands, media, recordings, requests to the
//! center, and what their failures become.

use super::*;

impl Shell {
    pub(super) fn execute_all(&mut self) {
        while let Some(o) = self.switch.poll_output() {
            self.execute(o);
        }
    }

    pub(super) fn center(&mut self, tenant: i64, cmd: Pending, then: Then) {
        if let Some(link) = self.link.as_mut() {
            link.send(tenant, cmd, then);
        }
    }

    pub(super) fn tenant_of(&self, contact: ContactId) -> Option<i64> {
        let t = self.contact_tenant.get(&contact).copied();
        if t.is_none() {
            warn!(contact, "no tenant known for the contact");
        }
        t
    }

    /// The tenant's default region for reading and dialing numbers.
    pub(super) fn region(&mut self, tenant: i64) -> String {
        if let Some(r) = self.regions.get(&tenant) {
            return r.clone();
        }
        // A tenant created since start: look it up off the loop; Japan until then.
        let store = self.store.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            if let Ok(Some(t)) = store.tenant(tenant).await {
                let _ = tx
                    .send(Msg::Region {
                        tenant,
                        region: t.default_region,
                    })
                    .await;
            }
        });
        "JP".into()
    }

    pub(super) fn execute(&mut self, o: Out) {
        let t = now();
        match o {
            // ----- SIP
            Out::SipAnswer { leg, sdp } => self.sip.answer(leg, sdp),
            Out::SipRinging { leg } => self.sip.ringing(leg),
            Out::SipReject { leg, code } => {
                self.signalling.remove(&leg);
                self.sip.reject(leg, code)
            }
            Out::SipHangup { leg } => self.sip.hangup(leg),
            Out::SipAnswerUpdate { leg, sdp } => self.sip.answer_update(leg, sdp),
            Out::SipRefuseUpdate { leg, code } => self.sip.refuse_update(leg, code),
            Out::SipReferNotify { leg, code, reason } => self.sip.refer_notify(leg, code, &reason),
            Out::SipDial {
                leg,
                target,
                from_user,
                from_name,
                sdp,
            } => {
                let trunk = target
                    .trunk
                    .as_ref()
                    .and_then(|n| self.trunks.iter().find(|t| &t.name == n));
                let (from_user, auth) = match trunk {
                    Some(tr) => (tr.caller_id.clone().unwrap_or(from_user), tr.auth.clone()),
                    None => (from_user, None),
                };
                let transport = transport_of(&target);
                // Media is taken from the SDP's address, or (behind NAT) latched on the IP
                // the call's signalling goes to.
                self.media.set_signalling(leg, target.destination.ip());
                let dial = DialTarget {
                    uri: target.uri,
                    destination: target.destination,
                    transport,
                    auth,
                };
                self.sip
                    .dial(leg, dial, &from_user, from_name.as_deref(), sdp);
            }
            // ----- media
            Out::MediaCreate { leg, params } => match self.media.add_leg(leg, params) {
                Ok(port) => {
                    if let Some(ip) = self.signalling.remove(&leg) {
                        self.media.set_signalling(leg, ip);
                    }
                    self.switch.handle_leg_ready(leg, port, t)
                }
                Err(e) => {
                    warn!(leg, "no media for the leg: {e}");
                    self.switch.handle_sip(
                        SipIn::Failed {
                            leg,
                            code: 503,
                            reason: e.to_string(),
                        },
                        t,
                    );
                    self.sip.reject(leg, 503);
                }
            },
            Out::MediaUpdate { leg, params } => self.media.update_leg(leg, params),
            Out::MediaSource { leg, source } => {
                let s = match source {
                    SourceSpec::Silence => Source::Silence,
                    SourceSpec::Prompts {
                        prompts,
                        looped,
                        token,
                    } => Source::Prompt {
                        prompt: self.prompts.sequence(&prompts),
                        looped,
                        token,
                    },
                    SourceSpec::Relay(l) => Source::Relay(l),
                    SourceSpec::Mix(v) => Source::Mix(v),
                };
                self.media.set_source(leg, s);
            }
            Out::MediaRemove { leg } => self.media.remove_leg(leg),
            Out::MediaStats { contact, leg, role } => {
                // Asked now, so the engine answers before it removes the leg.
                let Some(answer) = self.media.request_stats(leg) else {
                    return;
                };
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    if let Ok(Some(stats)) = answer.await {
                        let _ = tx
                            .send(Msg::MediaStats {
                                contact,
                                role,
                                stats,
                            })
                            .await;
                    }
                });
            }
            Out::RecordStart {
                recording,
                contact,
                left,
                right,
                voicemail,
            } => {
                let Some(tenant) = self.tenant_of(contact) else {
                    return;
                };
                let db_id = self.store.next_id(t);
                // The media engine's writer creates the directory (and reports a recording
                // it cannot open as failed).
                let path = self.recording_path(t, contact, db_id);
                let _ = self.recordings.send(RecJob::Create(RecordingRow {
                    id: db_id,
                    tenant_id: tenant,
                    contact_id: contact,
                    kind: if voicemail { "voicemail" } else { "call" }.into(),
                    path: path.display().to_string(),
                    started_at: t,
                    ended_at: None,
                    duration_ms: None,
                    status: "recording".into(),
                }));
                self.recs.insert(recording, Recording { db_id, contact });
                self.media.start_recording(db_id as u64, left, right, path);
            }
            Out::RecordPause { recording, paused } => {
                if let Some(r) = self.recs.get(&recording) {
                    self.media.pause_recording(r.db_id as u64, paused);
                }
            }
            Out::RecordStop { recording } => {
                if let Some(r) = self.recs.get(&recording) {
                    self.media.stop_recording(r.db_id as u64);
                }
            }
            // ----- contact center
            Out::CreateContact {
                call,
                tenant_id,
                caller,
                caller_name,
                called,
            } => {
                self.call_tenant.insert(call, tenant_id);
                let then: Then = Some(Box::new(move |r| match r {
                    Ok(VoiceReply::Contact(row)) => Some(Msg::ContactCreated {
                        tenant: tenant_id,
                        call,
                        contact: row.id,
                    }),
                    Ok(other) => Some(Msg::CallFailed {
                        call,
                        cause: format!("unexpected answer {other:?}"),
                    }),
                    Err(e) => Some(Msg::CallFailed {
                        call,
                        cause: e.to_string(),
                    }),
                }));
                self.center(
                    tenant_id,
                    Pending::Ready(VoiceCommand::NewCall {
                        caller,
                        caller_name,
                        called,
                    }),
                    then,
                );
            }
            Out::Enqueue {
                contact,
                queue,
                priority,
                requirements,
                attributes,
            } => {
                let Some(tenant) = self.tenant_of(contact) else {
                    return;
                };
                let then: Then = Some(Box::new(move |r| match r {
                    Ok(VoiceReply::Flag(record)) => {
                        Some(Msg::Center(CenterIn::Enqueued { contact, record }))
                    }
                    // The queue is gone (the flow named it when it was checked): end the call.
                    _ => Some(Msg::Center(CenterIn::Ended { contact })),
                }));
                self.center(
                    tenant,
                    Pending::Enqueue {
                        contact,
                        queue,
                        priority,
                        requirements,
                        attributes,
                    },
                    then,
                );
            }
            Out::Accept { contact, agent } => {
                let Some(tenant) = self.tenant_of(contact) else {
                    return;
                };
                let then: Then = Some(Box::new(move |r| {
                    let ok = matches!(r, Ok(VoiceReply::Flag(true)));
                    Some(Msg::Center(CenterIn::AcceptResult { contact, agent, ok }))
                }));
                self.center(
                    tenant,
                    Pending::Ready(VoiceCommand::Accept { contact, agent }),
                    then,
                );
            }
            Out::Connected { contact, agent } => {
                if let Some(tenant) = self.tenant_of(contact) {
                    self.center(
                        tenant,
                        Pending::Ready(VoiceCommand::Connected { contact, agent }),
                        None,
                    );
                }
            }
            Out::Reject {
                contact,
                agent,
                unreachable,
            } => {
                if let Some(tenant) = self.tenant_of(contact) {
                    self.center(
                        tenant,
                        Pending::Ready(VoiceCommand::Reject {
                            contact,
                            agent,
                            unreachable,
                        }),
                        None,
                    );
                }
            }
            Out::EndContact {
                contact,
                side,
                cause,
            } => {
                if let Some(tenant) = self.tenant_of(contact) {
                    let cmd = VoiceCommand::End {
                        contact,
                        side: side.as_str().into(),
                        cause,
                    };
                    self.center(tenant, Pending::Ready(cmd), None);
                }
            }
            Out::Event {
                contact,
                kind,
                agent,
                mut data,
            } => {
                // The timeline names recordings by their stored id.
                if let Some(r) = data
                    .get("recording")
                    .and_then(|v| v.as_u64())
                    .and_then(|r| self.recs.get(&r))
                {
                    data["recording"] = r.db_id.into();
                }
                let Some(kind) = EventKind::parse(kind) else {
                    warn!(kind, "unknown event kind from the switch");
                    return;
                };
                if let Some(tenant) = self.tenant_of(contact) {
                    let then = failure_report(tenant, contact, kind, agent, &data);
                    self.center(
                        tenant,
                        Pending::Ready(VoiceCommand::Event {
                            contact,
                            kind,
                            agent,
                            data,
                        }),
                        then,
                    );
                }
            }
            Out::AskPosition { contact } => {
                let Some(tenant) = self.tenant_of(contact) else {
                    return;
                };
                let then: Then = Some(Box::new(move |r| match r {
                    Ok(VoiceReply::Position {
                        position,
                        wait_secs,
                    }) => Some(Msg::Center(CenterIn::Position {
                        contact,
                        position,
                        wait_secs,
                    })),
                    _ => None,
                }));
                self.center(
                    tenant,
                    Pending::Ready(VoiceCommand::Position { contact }),
                    then,
                );
            }
            Out::Callback {
                contact,
                queue,
                number,
            } => {
                if let Some(tenant) = self.tenant_of(contact) {
                    self.center(
                        tenant,
                        Pending::Callback {
                            contact,
                            queue,
                            number,
                        },
                        None,
                    );
                }
            }
            Out::Voicemail {
                contact,
                queue,
                recording,
                caller,
            } => {
                let Some(tenant) = self.tenant_of(contact) else {
                    return;
                };
                let Some(db_id) = self.recs.get(&recording).map(|r| r.db_id) else {
                    return;
                };
                let recs = self.recordings.clone();
                let then: Then = Some(Box::new(move |r| {
                    if let Ok(VoiceReply::Id(task)) = r {
                        let _ = recs.send(RecJob::Move {
                            id: db_id,
                            contact: task,
                        });
                    }
                    None
                }));
                self.center(
                    tenant,
                    Pending::Voicemail {
                        contact,
                        queue,
                        recording: db_id,
                        caller,
                    },
                    then,
                );
            }
            Out::Refer {
                contact,
                agent,
                leg,
                target,
            } => {
                let Some(tenant) = self.tenant_of(contact) else {
                    self.switch
                        .refer_failed(leg, 503, "no tenant for the contact", t);
                    return;
                };
                let store = self.store.clone();
                let tx = self.tx.clone();
                let sip = self.sip.clone();
                let outbound = self
                    .trunks
                    .iter()
                    .any(|t| t.tenant_id == tenant && t.outbound.is_some());
                tokio::spawn(async move {
                    let resolved = resolve_refer(&store, &sip, outbound, tenant, &target).await;
                    if let Err((code, why)) = &resolved {
                        warn!(contact, %target, code, "transfer refused: {why}");
                    }
                    let _ = tx
                        .send(Msg::Refer {
                            contact,
                            agent,
                            leg,
                            target: resolved,
                        })
                        .await;
                });
            }
            Out::Handover { contact, from, to } => {
                if let Some(tenant) = self.tenant_of(contact) {
                    self.center(
                        tenant,
                        Pending::Ready(VoiceCommand::Handover { contact, from, to }),
                        None,
                    );
                }
            }
            Out::Requeue { contact } => {
                if let Some(tenant) = self.tenant_of(contact) {
                    self.center(
                        tenant,
                        Pending::Ready(VoiceCommand::Requeue { contact }),
                        None,
                    );
                }
            }
            // ----- lookups
            Out::Locate { call, leg, party } => {
                let Some(&tenant) = self.call_tenant.get(&call) else {
                    self.switch.handle_located(leg, vec![], t);
                    return;
                };
                match party {
                    Party::Agent(agent) => {
                        let store = self.store.clone();
                        let sip = self.sip.clone();
                        let tx = self.tx.clone();
                        tokio::spawn(async move {
                            let username = store
                                .agent(tenant, agent)
                                .await
                                .ok()
                                .flatten()
                                .and_then(|a| a.agent.sip_username);
                            let targets = match username {
                                Some(u) => sip
                                    .registrar()
                                    .lookup(&u, now())
                                    .iter()
                                    .map(|b| PhoneTarget {
                                        uri: b.contact.clone(),
                                        destination: b.source,
                                        tcp: b.transport == Transport::Tcp,
                                        tls: b.transport == Transport::Tls,
                                        trunk: None,
                                    })
                                    .collect(),
                                None => vec![],
                            };
                            let _ = tx.send(Msg::Located { leg, targets }).await;
                        });
                    }
                    Party::Number(number) => {
                        let region = self.region(tenant);
                        let targets = self
                            .trunk_target(tenant, &number, &region)
                            .into_iter()
                            .collect();
                        self.switch.handle_located(leg, targets, t);
                    }
                }
            }
            Out::Http {
                call,
                url,
                method,
                body,
                timeout_ms,
            } => {
                let client = self.http.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let result = crate::telephony::lookup::http_lookup(
                        &client, &url, &method, body, timeout_ms,
                    )
                    .await;
                    let _ = tx.send(Msg::Http { call, result }).await;
                });
            }
        }
    }

    /// How to reach an external number: the tenant's first trunk with an outbound route.
    pub(super) fn trunk_target(
        &self,
        tenant: i64,
        number: &str,
        region: &str,
    ) -> Option<PhoneTarget> {
        let trunk = self
            .trunks
            .iter()
            .find(|t| t.tenant_id == tenant && t.outbound.is_some())?;
        let dest = trunk.outbound?;
        // What is not a number is never dialed (the API and the flow checker refuse it
        // already; a callback's number comes from what a caller presented).
        let dial = match tsunagu_domain::phone::dial_string(number, region, trunk.national) {
            Ok(d) => d,
            Err(e) => {
                warn!(tenant, %number, "not dialed: {e}");
                return None;
            }
        };
        let domain = trunk.outbound_domain(dest);
        Some(PhoneTarget {
            uri: format!("sip:{dial}@{domain}"),
            destination: dest,
            tcp: trunk.tcp,
            tls: false,
            trunk: Some(trunk.name.clone()),
        })
    }

    pub(super) fn recording_path(&self, t: i64, contact: i64, id: i64) -> PathBuf {
        let day = jiff::Timestamp::from_millisecond(t)
            .map(|ts| ts.strftime("%Y-%m-%d").to_string())
            .unwrap_or_else(|_| "unknown".into());
        self.cfg
            .recordings_dir
            .join(day)
            .join(format!("{contact}-{id}.wav"))
    }
}

/// A timeline event that records a failure (`state: failed` — a phone that did not answer a
/// consultation, monitoring or click-to-call — or a blind transfer that failed) is also told
/// live, once stored: the API answered the request before the failure was known.
pub(super) fn failure_report(
    tenant: i64,
    contact: ContactId,
    kind: EventKind,
    agent: Option<i64>,
    data: &Value,
) -> Then {
    let failed = matches!(
        data.get("state").and_then(Value::as_str),
        Some("failed" | "transfer_failed")
    );
    if !failed {
        return None;
    }
    let envelope = Box::new(crate::center::events::Envelope {
        audience: crate::center::events::Audience::Agents(agent.into_iter().collect()),
        event: crate::center::events::LiveEvent::CallFailed {
            contact_id: contact,
            agent_id: agent,
            action: kind.as_str().to_string(),
            data: data.clone(),
        },
    });
    Some(Box::new(move |r| {
        r.is_ok().then_some(Msg::Publish { tenant, envelope })
    }))
}

/// The transport to reach a phone or a trunk by.
pub(super) fn transport_of(t: &PhoneTarget) -> Transport {
    if t.tls {
        Transport::Tls
    } else if t.tcp {
        Transport::Tcp
    } else {
        Transport::Udp
    }
}

/// What a phone's REFER names — a queue, an agent (username, extension or phone account)
/// or a number — checked the way the API checks a blind transfer, so that what cannot be
/// carried out is refused at once (the phone is told with the NOTIFY's status, RFC 3515)
/// rather than accepted and failing later: an agent signed out or without a registered
/// phone (480), a number when the tenant has no outbound route (503), a name that is none
/// of these (404). A number follows the one phone-number rule (separators, full-width
/// digits, `+`).
pub(super) async fn resolve_refer(
    store: &Store,
    sip: &SipHandle,
    outbound: bool,
    tenant: i64,
    target: &str,
) -> Result<ReferTarget, (u16, String)> {
    let unavailable = |e: tsunagu_store::StoreError| (503, format!("storage: {e}"));
    let queues = store.queues(tenant).await.map_err(unavailable)?;
    if let Some(q) = queues.iter().find(|q| q.name == target) {
        return Ok(ReferTarget::Queue(q.id));
    }
    let agents = store.agents(tenant).await.map_err(unavailable)?;
    if let Some(a) = agents.iter().find(|a| {
        a.username == target
            || a.agent.extension.as_deref() == Some(target)
            || a.agent.sip_username.as_deref() == Some(target)
    }) {
        let who = format!("agent {} ({})", a.display_name, a.username);
        if a.agent.presence == "offline" {
            return Err((480, format!("{who} is signed out (offline)")));
        }
        let registered = a
            .agent
            .sip_username
            .as_deref()
            .is_some_and(|u| !sip.registrar().lookup(u, now()).is_empty());
        if !registered {
            return Err((
                480,
                format!("{who}'s phone cannot ring: none is registered"),
            ));
        }
        return Ok(ReferTarget::Agent(a.agent.id));
    }
    match tsunagu_domain::phone::digits(target) {
        Ok(number) if !number.trim_start_matches('+').is_empty() => {
            if outbound {
                Ok(ReferTarget::Number(number))
            } else {
                Err((
                    503,
                    "no outbound route: no trunk to call outside numbers through".into(),
                ))
            }
        }
        _ => Err((
            404,
            format!("no queue, agent or number is named {target:?}"),
        )),
    }
}
