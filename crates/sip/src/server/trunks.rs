//! Trunks towards carriers: registration with the provider, OPTIONS keep-alive, health.

use super::*;

impl SipHandle {
    /// Registers with a provider and keeps the registration fresh until shutdown (refresh at
    /// 75 % of the granted expiry; after a failure, retry after 1 s doubling to 60 s).
    pub fn register_trunk(&self, r: TrunkRegistration) {
        let shared = self.shared.clone();
        let cancel = self.cancel.child_token();
        set_trunk_status(&shared, &r.trunk, "trying", 0, None);
        tokio::spawn(async move {
            let transport = match r.transport {
                Transport::Tcp => ";transport=tcp",
                Transport::Tls => ";transport=tls",
                Transport::Udp => "",
            };
            let server = match rsip::Uri::try_from(format!("sip:{}{transport}", r.domain).as_str())
            {
                Ok(u) => u,
                Err(e) => {
                    warn!(trunk = %r.trunk, "registrar domain {}: {e}", r.domain);
                    set_trunk_status(&shared, &r.trunk, "unreachable", 0, None);
                    return;
                }
            };
            let mut reg = rsipstack::dialog::registration::Registration::new(
                shared.endpoint.clone(),
                Some(credential(&r.auth)),
            );
            reg.outbound_proxy = Some(r.destination);
            reg.contact = Some(rsip::typed::Contact {
                display_name: None,
                uri: contact_as(&shared, &r.auth.username),
                params: vec![],
            });
            let trunk = r.trunk.clone();
            reg.keep_alive(server, r.expires, cancel, |outcome| {
                use rsipstack::dialog::registration::RefreshOutcome;
                match outcome {
                    RefreshOutcome::Registered(resp) => {
                        let granted = expires_header(&resp.headers).or(Some(r.expires));
                        debug!(trunk = %trunk, "registered with the provider");
                        set_trunk_status(&shared, &trunk, "registered", resp.status_code.code(), granted);
                    }
                    RefreshOutcome::Rejected(resp) => {
                        warn!(trunk = %trunk, code = resp.status_code.code(), "the provider refused the registration");
                        set_trunk_status(&shared, &trunk, "rejected", resp.status_code.code(), None);
                    }
                    RefreshOutcome::Failed(e) => {
                        warn!(trunk = %trunk, "registration failed: {e}");
                        set_trunk_status(&shared, &trunk, "unreachable", 0, None);
                    }
                }
            })
            .await;
        });
    }

    /// Sends OPTIONS to a trunk's provider every `every` (keep-alive and health check: NAT
    /// bindings stay open, and the state shows whether the provider answers).
    pub fn qualify_trunk(
        &self,
        trunk: &str,
        domain: &str,
        destination: SocketAddr,
        transport: Transport,
        every: std::time::Duration,
    ) {
        let shared = self.shared.clone();
        let cancel = self.cancel.child_token();
        let (trunk, domain) = (trunk.to_string(), domain.to_string());
        tokio::spawn(async move {
            let mut seq = 0u32;
            loop {
                seq += 1;
                let started = std::time::Instant::now();
                let answer = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    send_options(&shared, &domain, destination, transport, seq),
                )
                .await;
                let (state, code, rtt_ms) = match answer {
                    Ok(Some(code)) => (
                        "reachable",
                        code,
                        Some(started.elapsed().as_millis() as u64),
                    ),
                    _ => ("unreachable", 0, None),
                };
                if state == "unreachable" {
                    debug!(trunk = %trunk, "no answer to OPTIONS");
                }
                shared.trunk_health.lock().expect("trunk health").insert(
                    trunk.clone(),
                    TrunkHealth {
                        trunk: trunk.clone(),
                        state,
                        code,
                        rtt_ms,
                        at: now_ms(),
                    },
                );
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = cancel.cancelled() => return,
                }
            }
        });
    }

    /// Whether each qualified trunk's provider answers, by trunk name.
    pub fn trunk_health(&self) -> Vec<TrunkHealth> {
        self.shared
            .trunk_health
            .lock()
            .expect("trunk health")
            .values()
            .cloned()
            .collect()
    }

    /// How each trunk's registration with its provider stands, by trunk name.
    pub fn trunk_registrations(&self) -> Vec<TrunkRegistrationStatus> {
        self.shared
            .trunk_status
            .lock()
            .expect("trunk status")
            .values()
            .cloned()
            .collect()
    }
}

/// One OPTIONS request to `destination`; the final status of its answer.
pub(super) async fn send_options(
    shared: &Shared,
    domain: &str,
    destination: SocketAddr,
    transport: Transport,
    seq: u32,
) -> Option<u16> {
    use rsipstack::transaction::key::{TransactionKey, TransactionRole};
    let uri = rsip::Uri::try_from(format!("sip:{domain}").as_str()).ok()?;
    let target = sip_addr(destination, transport);
    let ep = &shared.endpoint;
    let via = match ep.transport_layer.lookup(&target, None).await {
        Ok((conn, _)) => ep.get_via(Some(conn.get_addr().clone()), None).ok()?,
        Err(_) => ep.get_via(None, None).ok()?,
    };
    let from = rsip::typed::From {
        display_name: None,
        uri: shared.contact.clone(),
        params: vec![],
    }
    .with_tag(rsipstack::transaction::make_tag());
    let to = rsip::typed::To {
        display_name: None,
        uri: uri.clone(),
        params: vec![],
    };
    let request = ep.make_request(Method::Options, uri, via, from, to, seq, None);
    let key = TransactionKey::from_request(&request, TransactionRole::Client).ok()?;
    let mut tx = Transaction::new_client(key, request, ep.clone(), None);
    tx.destination = Some(target);
    tx.send().await.ok()?;
    while let Some(msg) = tx.receive().await {
        if let rsip::SipMessage::Response(r) = msg {
            let code = r.status_code.code();
            if code >= 200 {
                return Some(code);
            }
        }
    }
    None
}

pub(super) fn set_trunk_status(
    shared: &Shared,
    trunk: &str,
    state: &'static str,
    code: u16,
    expires: Option<u32>,
) {
    shared.trunk_status.lock().expect("trunk status").insert(
        trunk.to_string(),
        TrunkRegistrationStatus {
            trunk: trunk.to_string(),
            state,
            code,
            expires,
            at: now_ms(),
        },
    );
}
