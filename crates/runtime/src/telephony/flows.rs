//! Call flows by tenant and name: read from the store, checked against the tenant's queues,
//! skills and the prompt store, compiled once and cached until they change. Also which
//! flow a dialed number reaches.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tsunagu_flow::{Checks, Flow, FlowErrors};
use tsunagu_store::Store;

use super::PromptStore;

pub struct FlowCache {
    store: Store,
    prompts: Arc<PromptStore>,
    compiled: Mutex<HashMap<(i64, String), Arc<Flow>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum FlowLoadError {
    #[error("{0}")]
    Invalid(FlowErrors),
    #[error("storage: {0}")]
    Store(String),
}

impl FlowCache {
    pub fn new(store: Store, prompts: Arc<PromptStore>) -> FlowCache {
        FlowCache {
            store,
            prompts,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// Checks a flow's source for this tenant (its queues, skills, the prompts there are).
    pub async fn check(
        &self,
        tenant_id: i64,
        file: &str,
        source: &str,
    ) -> Result<Flow, FlowLoadError> {
        let store_err = |e: tsunagu_store::StoreError| FlowLoadError::Store(e.to_string());
        let queues: Vec<String> = self
            .store
            .queues(tenant_id)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|q| q.name)
            .collect();
        let skills: Vec<String> = self
            .store
            .skills(tenant_id)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|s| s.name)
            .collect();
        // Numbers a flow forwards to are read like every other number of the tenant.
        let region = self
            .store
            .tenant(tenant_id)
            .await
            .map_err(store_err)?
            .map_or_else(|| "JP".to_string(), |t| t.default_region);
        let number_ok = |n: &str| {
            tsunagu_domain::phone::dial_string(n, &region, false)
                .map(drop)
                .map_err(|e| tsunagu_flow::NumberRefused(e.to_string()))
        };
        let prompts = self.prompts.clone();
        let prompt_exists = move |lang: &str, name: &str| prompts.exists(lang, name);
        let queue_exists = |q: &str| queues.iter().any(|x| x == q);
        let skill_exists = |s: &str| skills.iter().any(|x| x == s);
        let checks = Checks {
            prompt_exists: &prompt_exists,
            queue_exists: &queue_exists,
            skill_exists: &skill_exists,
            number_ok: &number_ok,
        };
        tsunagu_flow::load(file, source, &checks).map_err(FlowLoadError::Invalid)
    }

    /// The compiled flow, from the cache or the store. A stored flow that no longer checks
    /// (a queue it names was deleted since) is an error, and the call is refused.
    pub async fn get(
        &self,
        tenant_id: i64,
        name: &str,
    ) -> Result<Option<Arc<Flow>>, FlowLoadError> {
        if let Some(f) = self
            .compiled
            .lock()
            .expect("flows")
            .get(&(tenant_id, name.to_string()))
        {
            return Ok(Some(f.clone()));
        }
        let Some(row) = self
            .store
            .flow(tenant_id, name)
            .await
            .map_err(|e| FlowLoadError::Store(e.to_string()))?
        else {
            return Ok(None);
        };
        let flow = Arc::new(
            self.check(tenant_id, &format!("{name}.toml"), &row.source)
                .await?,
        );
        self.compiled
            .lock()
            .expect("flows")
            .insert((tenant_id, name.to_string()), flow.clone());
        Ok(Some(flow))
    }

    /// Forgets a tenant's compiled flows (a flow, queue or skill changed). Calls in
    /// progress keep the flow they started with.
    pub fn invalidate(&self, tenant_id: i64) {
        self.compiled
            .lock()
            .expect("flows")
            .retain(|k, _| k.0 != tenant_id);
    }

    /// The flow a number dialed into the tenant reaches: as dialed, as its digits, in E.164,
    /// or "*".
    pub async fn for_number(
        &self,
        tenant_id: i64,
        called: &str,
        region: &str,
    ) -> Result<Option<Arc<Flow>>, FlowLoadError> {
        let digits = tsunagu_domain::phone::digits(called).ok();
        // A number the network gives, read as `caller_e164` reads it (carriers may send
        // E.164 without its +).
        let e164 = tsunagu_domain::phone::caller_e164(called, region);
        let mut candidates = vec![called];
        for c in [&digits, &e164].into_iter().flatten() {
            if !candidates.contains(&c.as_str()) {
                candidates.push(c);
            }
        }
        let name = self
            .store
            .flow_for_number(tenant_id, &candidates)
            .await
            .map_err(|e| FlowLoadError::Store(e.to_string()))?;
        match name {
            Some(n) => self.get(tenant_id, &n).await,
            None => Ok(None),
        }
    }
}

/// A queue or a skill, by name, as flows name them.
#[derive(Clone, Copy, Debug)]
pub enum Named<'a> {
    Queue(&'a str),
    Skill(&'a str),
}

/// The tenant's stored flows that name this queue or skill, by flow name (sorted). A
/// rename or a delete would break every call entering such a flow, so the API refuses it
/// while any flow names it. Flows that no longer parse are skipped (they name nothing).
pub async fn flows_naming(
    store: &Store,
    tenant_id: i64,
    what: Named<'_>,
) -> Result<Vec<String>, tsunagu_store::StoreError> {
    let mut out = Vec::new();
    for row in store.flows(tenant_id).await? {
        let queues = RefCell::new(Vec::<String>::new());
        let skills = RefCell::new(Vec::<String>::new());
        let queue_exists = |q: &str| {
            queues.borrow_mut().push(q.to_string());
            true
        };
        let skill_exists = |s: &str| {
            skills.borrow_mut().push(s.to_string());
            true
        };
        let checks = Checks {
            queue_exists: &queue_exists,
            skill_exists: &skill_exists,
            ..Checks::none()
        };
        let _ = tsunagu_flow::load(&row.name, &row.source, &checks);
        let named = match what {
            Named::Queue(q) => queues.borrow().iter().any(|x| x == q),
            Named::Skill(s) => skills.borrow().iter().any(|x| x == s),
        };
        if named {
            out.push(row.name);
        }
    }
    out.sort();
    Ok(out)
}
