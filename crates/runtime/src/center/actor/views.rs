//! What the actor answers about itself: the live snapshot and the offers standing.

use super::*;

impl TenantActor {
    pub(super) fn snapshot(&self) -> Snapshot {
        Snapshot {
            now: self.now,
            queues: self
                .router
                .queue_snapshots()
                .into_iter()
                .map(|(q, s)| {
                    (
                        q.0 as i64,
                        s.waiting,
                        s.offered,
                        s.connected,
                        s.oldest_entered_at,
                    )
                })
                .collect(),
            agents: self.agents.iter().map(|(&id, a)| a.view(id)).collect(),
            today: self.figures.today(self.queues.keys().copied(), self.now),
        }
    }

    pub(super) fn offers_for(&self, agent: i64) -> Vec<(ContactRow, i64)> {
        self.open
            .values()
            .filter_map(|c| match self.router.contact(ContactId(c.id as u64)) {
                Some(RouterContact::Offered {
                    agents, expires_at, ..
                }) if agents.contains(&AgentId(agent as u64)) => Some((c.clone(), expires_at)),
                _ => None,
            })
            .collect()
    }

    pub(super) fn offered_agents(&self, contact: i64) -> Vec<i64> {
        match self.router.contact(ContactId(contact as u64)) {
            Some(RouterContact::Offered { agents, .. }) => {
                agents.iter().map(|a| a.0 as i64).collect()
            }
            _ => Vec::new(),
        }
    }
}
