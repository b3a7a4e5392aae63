//! What happens inside dialogs once they exist: state changes, re-INVITEs, INFO keys,
//! REFER and its NOTIFYs, BYE — translated into [`SipEvent`]s.

use super::*;

pub(super) fn leg_of(shared: &Shared, id: &rsipstack::dialog::DialogId) -> Option<LegId> {
    shared
        .state
        .lock()
        .expect("sip state")
        .by_dialog
        .get(&dialog_key(id))
        .copied()
}

pub(super) async fn state_loop(
    shared: Arc<Shared>,
    mut rx: rsipstack::dialog::dialog::DialogStateReceiver,
    cancel: CancellationToken,
) {
    loop {
        let state = tokio::select! {
            s = rx.recv() => match s { Some(s) => s, None => break },
            _ = cancel.cancelled() => break,
        };
        match state {
            DialogState::Early(id, resp) => {
                // Only dialed legs report ringing; our own 180 on an inbound leg is not news.
                let dialed = leg_of(&shared, &id).filter(|leg| {
                    matches!(
                        shared.state.lock().expect("sip state").legs.get(leg),
                        Some(LegDialog::Client { .. })
                    )
                });
                if let Some(leg) = dialed {
                    if resp.status_code.code() == 180 || resp.status_code.code() == 183 {
                        let _ = shared.events.send(SipEvent::Ringing { leg }).await;
                    }
                }
            }
            DialogState::Updated(id, req, handle) => {
                let Some(leg) = leg_of(&shared, &id) else {
                    let _ = handle.reply(StatusCode::CallTransactionDoesNotExist).await;
                    continue;
                };
                let offer = match sdp_of(&req.headers, &req.body) {
                    Ok(offer) => offer,
                    Err(e) => {
                        warn!(leg, "{} refused: {e}", req.method);
                        let _ = handle
                            .respond(StatusCode::UnsupportedMediaType, Some(accept_sdp()), None)
                            .await;
                        continue;
                    }
                };
                match (offer, &req.method) {
                    (Some(offer), _) => {
                        shared
                            .state
                            .lock()
                            .expect("sip state")
                            .updates
                            .insert(leg, handle);
                        let _ = shared.events.send(SipEvent::Update { leg, offer }).await;
                    }
                    (None, Method::Invite) => {
                        // A re-INVITE without SDP asks for our offer (RFC 3261 §14.2).
                        {
                            let mut st = shared.state.lock().expect("sip state");
                            st.updates.insert(leg, handle);
                            st.ack_answers.insert(leg, cseq_of(&req));
                        }
                        let _ = shared.events.send(SipEvent::OfferWanted { leg }).await;
                    }
                    (None, _) => {
                        // An UPDATE without SDP (a session refresh) changes nothing.
                        let _ = handle.reply(StatusCode::OK).await;
                    }
                }
            }
            DialogState::Confirmed(id, _) => {
                // An ACK arrived. If it completes an offer we made in a 2xx, its body is
                // the answer (the dialog keeps the last ACK; its CSeq says which INVITE).
                let Some(leg) = leg_of(&shared, &id) else {
                    continue;
                };
                let answer = {
                    let mut st = shared.state.lock().expect("sip state");
                    let Some(&cseq) = st.ack_answers.get(&leg) else {
                        continue;
                    };
                    let dialog = match st.legs.get(&leg) {
                        Some(LegDialog::Server(d)) | Some(LegDialog::Client { dialog: d, .. }) => {
                            d.clone()
                        }
                        None => continue,
                    };
                    let Some(ack) = dialog.last_remote_ack().filter(|a| cseq_of(a) == cseq) else {
                        continue;
                    };
                    st.ack_answers.remove(&leg);
                    answer_of(&ack.headers, &ack.body, "ACK")
                };
                let _ = shared
                    .events
                    .send(SipEvent::AckAnswer { leg, answer })
                    .await;
            }
            DialogState::Info(id, req, handle) => {
                let Some(leg) = leg_of(&shared, &id) else {
                    let _ = handle.reply(StatusCode::CallTransactionDoesNotExist).await;
                    continue;
                };
                match info::read_info(content_type(&req.headers).as_deref(), &req.body) {
                    Ok(InfoBody::Key(digit)) => {
                        let _ = handle.reply(StatusCode::OK).await;
                        let _ = shared.events.send(SipEvent::Dtmf { leg, digit }).await;
                    }
                    Ok(InfoBody::Empty) => {
                        let _ = handle.reply(StatusCode::OK).await;
                    }
                    Err(e @ InfoError::UnsupportedType(_)) => {
                        debug!(leg, "INFO refused: {e}");
                        let accept = Header::Accept(info::ACCEPTED.into());
                        let _ = handle
                            .respond(StatusCode::UnsupportedMediaType, Some(vec![accept]), None)
                            .await;
                    }
                    Err(e @ InfoError::Malformed { .. }) => {
                        warn!(leg, "INFO refused: {e}");
                        let _ = handle.reply(StatusCode::BadRequest).await;
                    }
                }
            }
            DialogState::Refer(id, req, handle) => {
                let Some(leg) = leg_of(&shared, &id) else {
                    let _ = handle.reply(StatusCode::CallTransactionDoesNotExist).await;
                    continue;
                };
                match refer_to(&req) {
                    Ok(refer_to) => {
                        let _ = handle.reply(StatusCode::Accepted).await;
                        // RFC 3515 §2.4.5: the implicit subscription's first NOTIFY.
                        send_refer_notify(&shared, leg, 100, "Trying");
                        let _ = shared.events.send(SipEvent::Refer { leg, refer_to }).await;
                    }
                    Err(e) => {
                        warn!(leg, "REFER refused: {e}");
                        let code = match e {
                            ReferToError::UnsupportedScheme(_) => StatusCode::UnsupportedUriScheme,
                            _ => StatusCode::BadRequest,
                        };
                        let _ = handle.reply(code).await;
                    }
                }
            }
            DialogState::Options(_, _, handle)
            | DialogState::Notify(_, _, handle)
            | DialogState::Message(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Publish(_, _, handle) => {
                let _ = handle.reply(StatusCode::NotImplemented).await;
            }
            DialogState::Terminated(id, reason) => {
                shared.dialogs.remove_dialog(&id);
                let Some(leg) = leg_of(&shared, &id) else {
                    continue;
                };
                let (known, closing) = {
                    let mut st = shared.state.lock().expect("sip state");
                    st.by_dialog.remove(&dialog_key(&id));
                    st.updates.remove(&leg);
                    st.ack_answers.remove(&leg);
                    st.refer_notifies.remove(&leg);
                    let known = st.legs.remove(&leg);
                    (known, st.closing.remove(&leg))
                };
                if closing {
                    continue;
                }
                let cause = match reason {
                    TerminatedReason::UacBye | TerminatedReason::UasBye => EndCause::Bye,
                    TerminatedReason::UacCancel => EndCause::Cancel,
                    TerminatedReason::Timeout => EndCause::Timeout,
                    other => EndCause::Other(format!("{other:?}")),
                };
                // A dialed leg that never answered reports its failure from `dial`.
                if let Some(LegDialog::Client {
                    answered: false, ..
                }) = known
                {
                    continue;
                }
                let _ = shared.events.send(SipEvent::Ended { leg, cause }).await;
            }
            DialogState::Calling(_) | DialogState::Trying(_) | DialogState::WaitAck(_, _) => {}
        }
    }
}

/// The CSeq number of a request (0 when unreadable; the transaction layer refuses those).
pub(super) fn cseq_of(req: &rsip::Request) -> u32 {
    req.cseq_header().and_then(|c| c.seq()).unwrap_or(0)
}

/// The one `Refer-To` of a REFER (RFC 3515 §2.4.1: exactly one), read.
pub(super) fn refer_to(req: &rsip::Request) -> Result<ReferTo, ReferToError> {
    let mut values = req.headers.iter().filter_map(|h| match h {
        Header::ReferTo(r) => Some(r.value()),
        _ => None,
    });
    let value = values.next().ok_or(ReferToError::Empty)?;
    if values.next().is_some() {
        return Err(ReferToError::Malformed("more than one Refer-To".into()));
    }
    parse_refer_to(value)
}

/// The reason phrase of a status code we report in a sipfrag (RFC 3261 §21).
pub(super) fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        200 => "OK",
        202 => "Accepted",
        403 => "Forbidden",
        404 => "Not Found",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Sends a NOTIFY of a REFER's progress on `leg` (RFC 3515 §2.4.4): `Event: refer`, a
/// `message/sipfrag` body with the status line; a final status ends the subscription. It
/// goes after the previous NOTIFY of the leg, and a hang-up of the leg waits for it.
pub(super) fn send_refer_notify(shared: &Arc<Shared>, leg: LegId, code: u16, reason: &str) {
    let mut st = shared.state.lock().expect("sip state");
    let Some(dialog) = st.legs.get(&leg).map(|d| match d {
        LegDialog::Server(d) | LegDialog::Client { dialog: d, .. } => d.clone(),
    }) else {
        return;
    };
    let previous = st.refer_notifies.remove(&leg);
    let phrase = if reason.is_empty() {
        reason_phrase(code)
    } else {
        reason
    };
    let body = format!("SIP/2.0 {code} {phrase}\r\n").into_bytes();
    let state = if code < 200 {
        "active;expires=60".to_string()
    } else {
        "terminated;reason=noresource".to_string()
    };
    let task = tokio::spawn(async move {
        if let Some(p) = previous {
            let _ = p.await;
        }
        let headers = vec![
            Header::Event("refer".into()),
            Header::SubscriptionState(state.into()),
            Header::ContentType("message/sipfrag;version=2.0".into()),
        ];
        let sent = tokio::time::timeout(
            std::time::Duration::from_secs(4),
            dialog.notify(Some(headers), Some(body)),
        )
        .await;
        if !matches!(sent, Ok(Ok(_))) {
            debug!(leg, code, "REFER NOTIFY not answered");
        }
    });
    st.refer_notifies.insert(leg, task);
}
