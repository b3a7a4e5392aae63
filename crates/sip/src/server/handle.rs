//! Commands from the call control to legs: ring, answer, refuse, re-answer, hang up, dial.

use super::*;

impl SipHandle {
    pub fn registrar(&self) -> &Registrar {
        &self.shared.registrar
    }

    /// Our SIP address (for Contact and SDP).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared
            .local
            .get_socketaddr()
            .unwrap_or(self.shared.config.listen)
    }

    fn leg(&self, leg: LegId) -> Option<LegDialog> {
        self.shared
            .state
            .lock()
            .expect("sip state")
            .legs
            .get(&leg)
            .cloned()
    }

    pub fn ringing(&self, leg: LegId) {
        if let Some(LegDialog::Server(d)) = self.leg(leg) {
            let _ = d.ringing(None, None);
        }
    }

    pub fn answer(&self, leg: LegId, sdp: String) {
        if let Some(LegDialog::Server(d)) = self.leg(leg) {
            if let Err(e) = d.accept(Some(sdp_headers()), Some(sdp.into_bytes())) {
                warn!(leg, "answer failed: {e}");
            }
        }
    }

    pub fn reject(&self, leg: LegId, code: u16) {
        let dialog = {
            let mut st = self.shared.state.lock().expect("sip state");
            st.closing.insert(leg);
            st.legs.get(&leg).cloned()
        };
        if let Some(LegDialog::Server(d)) = dialog {
            let _ = d.reject(Some(StatusCode::from(code)), None);
        }
    }

    /// Answers a re-INVITE / UPDATE with our SDP.
    pub fn answer_update(&self, leg: LegId, sdp: String) {
        let handle = self
            .shared
            .state
            .lock()
            .expect("sip state")
            .updates
            .remove(&leg);
        if let Some(h) = handle {
            tokio::spawn(async move {
                let _ = h
                    .respond(StatusCode::OK, Some(sdp_headers()), Some(sdp.into_bytes()))
                    .await;
            });
        }
    }

    /// Refuses a re-INVITE / UPDATE (488: nothing acceptable in the offer; 400: unreadable;
    /// 481: no such call). The session stays as it was.
    pub fn refuse_update(&self, leg: LegId, code: u16) {
        let handle = {
            let mut st = self.shared.state.lock().expect("sip state");
            st.ack_answers.remove(&leg);
            st.updates.remove(&leg)
        };
        if let Some(h) = handle {
            tokio::spawn(async move {
                let _ = h.reply(StatusCode::from(code)).await;
            });
        }
    }

    /// Reports how a REFER of `leg` ended (a final status: `200` when the transfer was
    /// carried out, `404`, `503`… when it was not), as the last NOTIFY of its subscription.
    /// `reason` replaces the standard reason phrase when not empty.
    pub fn refer_notify(&self, leg: LegId, code: u16, reason: &str) {
        send_refer_notify(&self.shared, leg, code.max(200), reason);
    }

    /// Ends a leg in whatever way fits its state: BYE, CANCEL or a final response.
    pub fn hangup(&self, leg: LegId) {
        let dialog = {
            let mut st = self.shared.state.lock().expect("sip state");
            let dialog = st.legs.get(&leg).cloned();
            if dialog.is_some() {
                st.closing.insert(leg);
            } else {
                // Nothing to end: the leg is not (or no longer) being closed by us.
                st.closing.remove(&leg);
            }
            dialog
        };
        let Some(d) = dialog else {
            return;
        };
        let notify = self
            .shared
            .state
            .lock()
            .expect("sip state")
            .refer_notifies
            .remove(&leg);
        tokio::spawn(async move {
            // A transfer's outcome reaches the phone before its BYE.
            if let Some(n) = notify {
                let _ = n.await;
            }
            let r = match d {
                LegDialog::Server(d) => match d.state() {
                    DialogState::Confirmed(..) | DialogState::WaitAck(..) => d.bye().await,
                    _ => d.reject(Some(StatusCode::TemporarilyUnavailable), None),
                },
                LegDialog::Client {
                    dialog,
                    answered: true,
                } => dialog.bye().await,
                LegDialog::Client {
                    dialog,
                    answered: false,
                } => dialog.cancel().await,
            };
            if let Err(e) = r {
                debug!(leg, "hangup: {e}");
            }
        });
    }

    /// Places an outgoing INVITE as leg `leg` (numbered by the caller, below
    /// [`INCOMING_LEG_BASE`]). Progress comes back as Ringing / Answered / Failed.
    pub fn dial(
        &self,
        leg: LegId,
        target: DialTarget,
        from_user: &str,
        from_name: Option<&str>,
        sdp: String,
    ) {
        let shared = self.shared.clone();
        let from_user = from_user.to_string();
        let from_name = from_name.map(str::to_string);
        tokio::spawn(async move {
            let events = shared.events.clone();
            let fail = move |code: u16, reason: String| {
                let events = events.clone();
                async move {
                    let _ = events.send(SipEvent::Failed { leg, code, reason }).await;
                }
            };
            let callee = match rsip::Uri::try_from(target.uri.as_str()) {
                Ok(u) => u,
                Err(e) => return fail(0, format!("bad target {}: {e}", target.uri)).await,
            };
            let opt = InviteOption {
                caller_display_name: from_name,
                caller: contact_as(&shared, &from_user),
                callee,
                destination: Some(sip_addr(target.destination, target.transport)),
                content_type: Some("application/sdp".into()),
                offer: Some(sdp.into_bytes()),
                contact: shared.contact.clone(),
                credential: target.auth.as_ref().map(credential),
                ..Default::default()
            };
            let (dialog, join) = match shared
                .dialogs
                .do_invite_async(opt, shared.state_sender.clone())
            {
                Ok(x) => x,
                Err(e) => return fail(0, e.to_string()).await,
            };
            {
                let mut st = shared.state.lock().expect("sip state");
                st.by_dialog.insert(dialog_key(&dialog.id()), leg);
                st.legs.insert(
                    leg,
                    LegDialog::Client {
                        dialog: dialog.clone(),
                        answered: false,
                    },
                );
            }
            let result = join.await;
            let cancelled = shared
                .state
                .lock()
                .expect("sip state")
                .closing
                .contains(&leg);
            match result {
                Ok(Ok((_, Some(resp))))
                    if resp.status_code.kind() == rsip::StatusCodeKind::Successful =>
                {
                    if cancelled {
                        // Answered just as we gave up: end it at once.
                        let _ = dialog.bye().await;
                        return;
                    }
                    {
                        let mut st = shared.state.lock().expect("sip state");
                        st.legs.insert(
                            leg,
                            LegDialog::Client {
                                dialog: dialog.clone(),
                                answered: true,
                            },
                        );
                        let id = dialog.id();
                        st.by_dialog.insert(dialog_key(&id), leg);
                    }
                    let _ = shared
                        .events
                        .send(SipEvent::Answered {
                            leg,
                            answer: answer_of(&resp.headers, &resp.body, "2xx"),
                        })
                        .await;
                }
                Ok(Ok((_, resp))) => {
                    let code = resp.as_ref().map_or(0, |r| r.status_code.code());
                    let reason = resp
                        .as_ref()
                        .and_then(|r| r.reason_phrase().map(str::to_string))
                        .unwrap_or_default();
                    cleanup(&shared, leg);
                    if !cancelled {
                        fail(code, reason).await;
                    }
                }
                Ok(Err(e)) => {
                    cleanup(&shared, leg);
                    if !cancelled {
                        fail(0, e.to_string()).await;
                    }
                }
                Err(e) => {
                    cleanup(&shared, leg);
                    fail(0, e.to_string()).await;
                }
            }
        });
    }

    /// Legs (dialogs) still open, including those being hung up.
    /// New calls and registrations refused with 503 since start because the shell was behind.
    pub fn refused_overload(&self) -> u64 {
        self.shared.refused_overload.load(Ordering::Relaxed)
    }

    pub fn open_legs(&self) -> usize {
        self.shared.state.lock().expect("sip state").legs.len()
    }

    /// Stops the server (transports, transactions, dialogs).
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

pub(super) fn cleanup(shared: &Shared, leg: LegId) {
    let mut st = shared.state.lock().expect("sip state");
    st.legs.remove(&leg);
    st.by_dialog.retain(|_, l| *l != leg);
    st.closing.remove(&leg);
    st.ack_answers.remove(&leg);
    st.refer_notifies.remove(&leg);
}
