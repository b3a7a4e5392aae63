//! What the actor answers about itself: the live snapshot and the offers standing.

use super::*;

impl TenantActor {
    pub(super) fn snapshot(&self) -> Snapshot {
        Snapshot {
            now: self.now,
            queues: self
                .core
                .router()
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
        self.core
            .offers_for(agent)
            .into_iter()
            .map(|(c, expires_at)| (row_of(c, self.tenant.id), expires_at))
            .collect()
    }
}
