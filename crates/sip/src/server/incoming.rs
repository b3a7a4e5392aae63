//! Requests that open something: REGISTER, INVITE (from phones and trunks), and the
//! refusals on the way in (authentication, overload, malformed bodies).

use super::*;

pub(super) async fn incoming_loop(
    shared: Arc<Shared>,
    mut incoming: rsipstack::transaction::TransactionReceiver,
    cancel: CancellationToken,
) {
    loop {
        let tx = tokio::select! {
            tx = incoming.recv() => match tx { Some(tx) => tx, None => break },
            _ = cancel.cancelled() => break,
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = handle_transaction(shared, tx).await {
                debug!("transaction: {e}");
            }
        });
    }
}

/// A request whose Content-Length does not match its body (RFC 3261 §18.3: over UDP a
/// message is cut short or padded) is refused rather than guessed at.
pub(crate) fn body_length_mismatch(req: &rsip::Request) -> bool {
    req.headers.iter().any(|h| match h {
        Header::ContentLength(l) => !l
            .value()
            .trim()
            .parse::<usize>()
            .is_ok_and(|n| n == req.body.len()),
        _ => false,
    })
}

pub(super) async fn handle_transaction(
    shared: Arc<Shared>,
    mut tx: Transaction,
) -> rsipstack::Result<()> {
    if body_length_mismatch(&tx.original) && tx.original.method != Method::Ack {
        warn!(method = %tx.original.method, "request refused: Content-Length does not match the body");
        return tx.reply(StatusCode::BadRequest).await;
    }
    let in_dialog = tx
        .original
        .to_header()
        .ok()
        .and_then(|t| t.tag().ok().flatten())
        .is_some();
    match (&tx.original.method, in_dialog) {
        (Method::Register, _) => register(&shared, &mut tx).await,
        (Method::Invite, false) => incoming_call(shared, tx).await,
        (Method::Options, false) => {
            let mut r = tx
                .endpoint_inner
                .make_response(&tx.original, StatusCode::OK, None);
            r.headers.push(Header::Allow(
                "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, UPDATE, REGISTER".into(),
            ));
            tx.respond(r).await
        }
        (_, true) => match shared.dialogs.match_dialog(&tx) {
            Some(Dialog::Invite(mut d)) => d.handle(&mut tx).await,
            Some(_) => tx.reply(StatusCode::NotImplemented).await,
            None => tx.reply(StatusCode::CallTransactionDoesNotExist).await,
        },
        (Method::Ack, _) => Ok(()),
        _ => tx.reply(StatusCode::MethodNotAllowed).await,
    }
}

pub(super) fn source_of(tx: &Transaction) -> Option<(SocketAddr, Transport)> {
    let conn = tx.connection.as_ref()?;
    let transport = match conn.transport() {
        rsip::Transport::Tcp => Transport::Tcp,
        rsip::Transport::Tls => Transport::Tls,
        _ => Transport::Udp,
    };
    // The transport layer records where the request really came from in Via received/rport.
    let via = tx.original.top_via_header().ok()?.typed().ok()?;
    let sent_by = via.sent_by().clone();
    let host = match via.received() {
        Some(Ok(ip)) => ip,
        _ => sent_by.host.to_string().parse().ok()?,
    };
    let port = via
        .rport()
        .flatten()
        .or_else(|| sent_by.port.map(|p| p.value()))
        .unwrap_or(5060);
    Some((SocketAddr::new(host, port), transport))
}

pub(super) async fn register(shared: &Shared, tx: &mut Transaction) -> rsipstack::Result<()> {
    let now = now_ms();
    let req = tx.original.clone();
    let Some(creds) = credentials(&req, false) else {
        return send_challenge(shared, tx, &req, now, false, false).await;
    };
    let to_user = req
        .to_header()
        .ok()
        .and_then(|t| t.uri().ok())
        .and_then(|u| u.user().map(str::to_string));
    let account = shared.directory.account(&creds.username).await;
    let fresh = digest::nonce_valid(&shared.config.nonce_secret, &creds.nonce, now);
    let ok = account.as_ref().is_some_and(|a| {
        creds.realm == shared.config.realm && digest::verify(&creds, "REGISTER", &a.ha1)
    }) && to_user.as_deref().is_none_or(|u| u == creds.username);
    if !ok || !fresh {
        if ok && !fresh {
            return send_challenge(shared, tx, &req, now, false, true).await;
        }
        warn!(username = %creds.username, "REGISTER refused: bad credentials");
        return tx.reply(StatusCode::Forbidden).await;
    }
    let account = account.expect("checked");
    // Room for the event before the registrar changes: refused whole or done whole.
    let Ok(permit) = shared.events.try_reserve() else {
        return overloaded(shared, tx, "REGISTER").await;
    };
    let Some((source, transport)) = source_of(tx) else {
        return tx.reply(StatusCode::BadRequest).await;
    };
    let default_expires = expires_header(&req.headers).unwrap_or(MAX_EXPIRES);
    let user_agent = req.headers.iter().find_map(|h| match h {
        Header::UserAgent(u) => Some(u.value().to_string()),
        _ => None,
    });
    let mut bindings = shared.registrar.lookup(&creds.username, now);
    for h in req.headers.iter() {
        let Header::Contact(c) = h else { continue };
        let value = c.value().trim();
        if value == "*" {
            bindings = shared.registrar.unregister(&creds.username, None, now);
            continue;
        }
        let Ok(contact) = rsip::typed::Contact::parse(value) else {
            return tx.reply(StatusCode::BadRequest).await;
        };
        let expires = contact
            .params
            .iter()
            .find_map(|p| match p {
                rsip::Param::Expires(e) => e.value().parse::<u32>().ok(),
                _ => None,
            })
            .unwrap_or(default_expires);
        let uri = contact.uri.to_string();
        if expires == 0 {
            bindings = shared
                .registrar
                .unregister(&creds.username, Some(&uri), now);
        } else if expires < MIN_EXPIRES {
            let mut r = tx
                .endpoint_inner
                .make_response(&req, StatusCode::IntervalTooBrief, None);
            r.headers
                .push(Header::MinExpires(MIN_EXPIRES.to_string().into()));
            return tx.respond(r).await;
        } else {
            let expires = expires.min(MAX_EXPIRES);
            bindings = shared.registrar.register(
                &creds.username,
                Binding {
                    contact: uri,
                    source,
                    transport,
                    expires_at: now + i64::from(expires) * 1000,
                    user_agent: user_agent.clone(),
                },
                now,
            );
        }
    }
    let mut r = tx.endpoint_inner.make_response(&req, StatusCode::OK, None);
    for b in &bindings {
        let secs = ((b.expires_at - now) / 1000).max(0);
        r.headers.push(Header::Contact(
            format!("<{}>;expires={secs}", b.contact).into(),
        ));
    }
    permit.send(SipEvent::Registered {
        tenant_id: account.tenant_id,
        agent_id: account.agent_id,
        username: creds.username.clone(),
        bindings: bindings.len(),
    });
    tx.respond(r).await
}

/// An INVITE from no allowed address: challenge it (407) if trunks take digest, and accept
/// it for the trunk whose account answers the challenge. None: answered with 407 or 403.
pub(super) async fn trunk_by_digest(
    shared: &Shared,
    tx: &mut Transaction,
    req: &rsip::Request,
    source: SocketAddr,
) -> rsipstack::Result<Option<TrunkMatch>> {
    if !shared.directory.trunk_digest() {
        warn!(%source, "INVITE refused: not from a known trunk");
        tx.reply(StatusCode::Forbidden).await?;
        return Ok(None);
    }
    let now = now_ms();
    let Some(creds) = credentials(req, true) else {
        send_challenge(shared, tx, req, now, true, false).await?;
        return Ok(None);
    };
    let account = shared.directory.trunk_account(&creds.username).await;
    let ok = account.as_ref().is_some_and(|(_, ha1)| {
        creds.realm == shared.config.realm && digest::verify(&creds, "INVITE", ha1)
    });
    let fresh = digest::nonce_valid(&shared.config.nonce_secret, &creds.nonce, now);
    match (ok, fresh) {
        (true, true) => Ok(account.map(|(t, _)| t)),
        (true, false) => {
            send_challenge(shared, tx, req, now, true, true).await?;
            Ok(None)
        }
        _ => {
            warn!(%source, username = %creds.username, "INVITE refused: bad trunk credentials");
            tx.reply(StatusCode::Forbidden).await?;
            Ok(None)
        }
    }
}

pub(super) async fn incoming_call(
    shared: Arc<Shared>,
    mut tx: Transaction,
) -> rsipstack::Result<()> {
    let req = tx.original.clone();
    let called = req.uri.user().unwrap_or_default().to_string();
    let Some((source, _)) = source_of(&tx) else {
        return tx.reply(StatusCode::BadRequest).await;
    };
    let trunk = match shared.directory.trunk(source, &called).await {
        Some(t) => t,
        None => match trunk_by_digest(&shared, &mut tx, &req, source).await? {
            Some(t) => t,
            None => return Ok(()),
        },
    };
    let from = req
        .from_header()
        .ok()
        .and_then(|f| rsip::typed::From::parse(f.value()).ok());
    // The number from From, or from P-Asserted-Identity when From is anonymous and the
    // caller did not ask for privacy (sip: or tel: URIs alike).
    let asserted: Vec<&str> = req
        .headers
        .iter()
        .filter_map(|h| match h {
            Header::PAssertedIdentity(p) => Some(p.value()),
            _ => None,
        })
        .collect();
    let privacy = req.headers.iter().find_map(|h| match h {
        Header::Privacy(p) => Some(p.value()),
        _ => None,
    });
    let caller = req
        .from_header()
        .ok()
        .and_then(|f| crate::caller::caller_identity(f.value(), &asserted, privacy))
        .unwrap_or_else(|| "anonymous".into());
    let caller_name = from.and_then(|f| f.display_name).filter(|n| !n.is_empty());
    let call_id = req
        .call_id_header()
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    let offer = match sdp_of(&req.headers, &req.body) {
        Ok(offer) => offer,
        Err(e) => {
            warn!(%source, "INVITE refused: {e}");
            return tx
                .reply_with(StatusCode::UnsupportedMediaType, accept_sdp(), None)
                .await;
        }
    };
    // Admission: a new call is taken only when the shell has room for it.
    let Ok(permit) = shared.events.try_reserve() else {
        return overloaded(&shared, &mut tx, "INVITE").await;
    };
    let dialog = match shared.dialogs.get_or_create_server_invite(
        &tx,
        shared.state_sender.clone(),
        None,
        Some(shared.contact.clone()),
    ) {
        Ok(d) => d,
        Err(e) => {
            warn!("cannot create dialog: {e}");
            return tx.reply(StatusCode::ServerInternalError).await;
        }
    };
    let leg = shared.next_leg.fetch_add(1, Ordering::Relaxed);
    {
        let mut st = shared.state.lock().expect("sip state");
        st.by_dialog.insert(dialog_key(&dialog.id()), leg);
        st.legs.insert(leg, LegDialog::Server(dialog.clone()));
        if offer.is_none() {
            // No offer: ours goes in the 200, the caller's answer in the ACK (RFC 3264 §4).
            st.ack_answers.insert(leg, cseq_of(&req));
        }
    }
    permit.send(SipEvent::Incoming {
        leg,
        tenant_id: trunk.tenant_id,
        trunk: trunk.trunk,
        caller,
        caller_name,
        called,
        source,
        offer,
        call_id,
    });
    let mut d = dialog;
    d.handle(&mut tx).await
}

/// Refuses a new call or registration while the shell is behind: `503 Service Unavailable`
/// with `Retry-After` (RFC 3261 §21.5.4), so the peer tries again later or elsewhere.
pub(super) async fn overloaded(
    shared: &Shared,
    tx: &mut Transaction,
    what: &'static str,
) -> rsipstack::Result<()> {
    let n = shared.refused_overload.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() {
        warn!(
            refused = n,
            "{what} refused with 503: the call shell is behind"
        );
    }
    let mut r = tx
        .endpoint_inner
        .make_response(&tx.original, StatusCode::ServiceUnavailable, None);
    r.headers
        .push(Header::RetryAfter(RETRY_AFTER_SECS.to_string().into()));
    tx.respond(r).await
}
