//! What the SIP shell asks: phone accounts (from the store) and which trunk an INVITE
//! comes from (from the configuration).

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use tsunagu_sip::{Directory, SipAccount, TrunkMatch};
use tsunagu_store::Store;

use super::TrunkConfig;

pub struct StoreDirectory {
    pub store: Store,
    pub trunks: Arc<Vec<TrunkConfig>>,
}

impl Directory for StoreDirectory {
    fn account(&self, username: &str) -> BoxFuture<'static, Option<SipAccount>> {
        let store = self.store.clone();
        let username = username.to_string();
        Box::pin(async move {
            let row = store.sip_account(&username).await.ok().flatten()?;
            Some(SipAccount {
                tenant_id: row.tenant_id,
                agent_id: row.agent_id,
                ha1: row.ha1,
            })
        })
    }

    fn trunk(&self, source: SocketAddr, _called: &str) -> BoxFuture<'static, Option<TrunkMatch>> {
        let found = self
            .trunks
            .iter()
            .find(|t| t.allows(source.ip()))
            .map(|t| TrunkMatch {
                tenant_id: t.tenant_id,
                trunk: t.name.clone(),
            });
        Box::pin(async move { found })
    }

    fn trunk_account(&self, username: &str) -> BoxFuture<'static, Option<(TrunkMatch, String)>> {
        let found = self.trunks.iter().find_map(|t| {
            let (user, ha1) = t.inbound_auth.as_ref()?;
            (user == username).then(|| {
                (
                    TrunkMatch {
                        tenant_id: t.tenant_id,
                        trunk: t.name.clone(),
                    },
                    ha1.clone(),
                )
            })
        });
        Box::pin(async move { found })
    }

    fn trunk_digest(&self) -> bool {
        self.trunks.iter().any(|t| t.inbound_auth.is_some())
    }
}
