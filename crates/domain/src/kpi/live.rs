//! Today's figures, kept up to date as events happen instead of recomputed from the store
//! on every request, per queue and per 15-minute grain.
//!
//! [`DayFigures`] reads the same events as the recompute ([`super::visits_from_events`] and
//! [`super::queue_kpis`]), one at a time, with the same reading of a contact's timeline
//! ([`super::VisitTracker`]): when an event changes a visit, the visit's old contribution is
//! taken out of its grain's sums and the new one put in. Agent time is split over grains as
//! each status ends; the status in progress is added up to `now` when asked. A snapshot is
//! therefore O(queues × grains + agents), whatever the day's volume.
//!
//! The figures are those of the recompute over `[start of day, now]`, by construction and
//! by test (`tests::the_live_figures_are_the_recompute`): the recompute stays the reference.
//!
//! Drive it with every stored event ([`DayFigures::handle_event`]) and agent status
//! ([`DayFigures::handle_agent_status`]) in the order they were committed; call
//! [`DayFigures::start_day`] when the center's local day turns (the owner knows its time
//! zone) and store the finished day's grains it returns; drain
//! [`DayFigures::poll_correction`] after each event: a contact that entered a queue on a
//! finished day and changes now (answered after midnight, wrapped up the next morning)
//! corrects that day's stored grain by the difference. Call [`DayFigures::set_queue`] /
//! [`DayFigures::set_short_abandon_ms`] when the configuration the figures depend on changes
//! (today's sums are then rebuilt from the day's visits, which are kept).

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::{
    grain_start, AgentStatusRecord, EventRecord, IntervalSums, Kpis, QueueVisit, Sums,
    VisitTracker, GRAIN_MS,
};
use crate::AgentStatus;

/// The recompute reads an agent's status in force at the start of a range only if it was
/// set at most this long before (the store's look-back); the live figures do the same.
const STATUS_LOOKBACK_MS: i64 = 24 * 3600 * 1000;

#[derive(Clone, Debug)]
struct QueueFigures {
    sl_threshold_ms: i64,
    agents: Vec<i64>,
    /// Today's visits' sums by grain start.
    grains: BTreeMap<i64, Sums>,
}

#[derive(Clone, Debug, Default)]
struct ContactTrack {
    tracker: VisitTracker,
    visits: Vec<QueueVisit>,
}

#[derive(Clone, Debug)]
struct AgentTime {
    status: AgentStatus,
    since: i64,
    /// (handling, idle) ms of statuses that ended today, by grain start.
    grains: BTreeMap<i64, (i64, i64)>,
}

/// Per-queue KPIs of the current day, maintained event by event. See the module docs.
#[derive(Clone, Debug)]
pub struct DayFigures {
    day_start: i64,
    short_abandon_ms: i64,
    queues: HashMap<i64, QueueFigures>,
    /// Contacts whose visits can still change.
    open: HashMap<i64, ContactTrack>,
    /// Today's visits of contacts that are done (kept to rebuild the sums).
    done: Vec<QueueVisit>,
    agents: HashMap<i64, AgentTime>,
    /// Differences for grains of finished days, not yet taken.
    corrections: VecDeque<IntervalSums>,
}

impl DayFigures {
    /// Empty figures for the day starting at `day_start` (Unix ms, local midnight).
    pub fn new(day_start: i64, short_abandon_ms: i64) -> DayFigures {
        DayFigures {
            day_start,
            short_abandon_ms,
            queues: HashMap::new(),
            open: HashMap::new(),
            done: Vec::new(),
            agents: HashMap::new(),
            corrections: VecDeque::new(),
        }
    }

    /// Start of the day the figures are for (Unix ms).
    pub fn day_start(&self) -> i64 {
        self.day_start
    }

    /// Adds or updates a queue: its service-level threshold (Y, ms) and the agents who
    /// serve it (their time makes its occupancy).
    pub fn set_queue(&mut self, queue: i64, sl_threshold_ms: i64, agents: Vec<i64>) {
        let rebuild = self
            .queues
            .get(&queue)
            .is_none_or(|q| q.sl_threshold_ms != sl_threshold_ms);
        let q = self.queues.entry(queue).or_insert(QueueFigures {
            sl_threshold_ms,
            agents: Vec::new(),
            grains: BTreeMap::new(),
        });
        q.sl_threshold_ms = sl_threshold_ms;
        q.agents = agents;
        if rebuild {
            self.rebuild(Some(queue));
        }
    }

    /// Forgets a queue that no longer exists.
    pub fn remove_queue(&mut self, queue: i64) {
        self.queues.remove(&queue);
    }

    /// The tenant's short-abandon threshold changed: every queue's sums are rebuilt.
    pub fn set_short_abandon_ms(&mut self, ms: i64) {
        if ms != self.short_abandon_ms {
            self.short_abandon_ms = ms;
            self.rebuild(None);
        }
    }

    /// A new local day begins at `day_start`: returns the finished day's grains (every
    /// queue's, agent time complete) to store, and today's sums start from zero, except for
    /// the contacts and statuses still in progress, which carry on.
    pub fn start_day(&mut self, day_start: i64) -> Vec<IntervalSums> {
        if day_start <= self.day_start {
            return Vec::new();
        }
        let finished = self.grains(day_start);
        self.day_start = day_start;
        self.done.clear();
        for a in self.agents.values_mut() {
            a.grains.clear();
        }
        self.rebuild(None);
        finished
    }

    /// A correction to a grain of a finished day (a difference to add to what is stored),
    /// if one is waiting.
    #[must_use]
    pub fn poll_correction(&mut self) -> Option<IntervalSums> {
        self.corrections.pop_front()
    }

    /// One stored timeline event, in commit order.
    pub fn handle_event(&mut self, e: &EventRecord) {
        let track = self.open.entry(e.contact).or_default();
        // Only the waiting and the handled visit can change, and new ones can open.
        let before: Vec<(usize, QueueVisit)> = [track.tracker.waiting, track.tracker.handling]
            .into_iter()
            .flatten()
            .map(|i| (i, track.visits[i].clone()))
            .collect();
        let len = track.visits.len();
        track.tracker.step(e, &mut track.visits);
        let mut changes: Vec<(Option<QueueVisit>, QueueVisit)> = Vec::new();
        for (i, old) in before {
            if track.visits[i] != old {
                changes.push((Some(old), track.visits[i].clone()));
            }
        }
        for v in &track.visits[len..] {
            changes.push((None, v.clone()));
        }
        if track.tracker.is_done() {
            // Nothing of it can change any more; a later event starts a fresh reading,
            // which reads the same (the tracker keeps nothing else between visits).
            let track = self.open.remove(&e.contact).unwrap_or_default();
            let day = self.day_start;
            self.done
                .extend(track.visits.into_iter().filter(|v| v.entered_at >= day));
        }
        for (old, new) in changes {
            if let Some(old) = old {
                self.count(&old, false);
            }
            self.count(&new, true);
        }
    }

    /// One stored agent status change, in commit order.
    pub fn handle_agent_status(&mut self, s: &AgentStatusRecord) {
        let day = self.day_start;
        match self.agents.get_mut(&s.agent) {
            Some(a) => {
                if a.since >= day - STATUS_LOOKBACK_MS {
                    spread(&mut a.grains, a.status, a.since, s.at, day);
                }
                a.status = s.status;
                a.since = s.at;
            }
            None => {
                self.agents.insert(
                    s.agent,
                    AgentTime {
                        status: s.status,
                        since: s.at,
                        grains: BTreeMap::new(),
                    },
                );
            }
        }
    }

    /// The queue's figures from the start of the day until `now`; `None` for a queue never
    /// set.
    pub fn kpis(&self, queue: i64, now: i64) -> Option<Kpis> {
        let q = self.queues.get(&queue)?;
        let mut total = Sums::default();
        for g in q.grains.values() {
            total.add(g);
        }
        for (handling, idle) in self.agent_time(&q.agents, now).values() {
            total.handling_ms += handling;
            total.idle_ms += idle;
        }
        Some(total.finish())
    }

    /// Today's grains of every queue up to `now` (the grain holding `now` included), each
    /// with its agents' time: what a report of today adds up.
    pub fn grains(&self, now: i64) -> Vec<IntervalSums> {
        let mut out = Vec::new();
        let mut ids: Vec<i64> = self.queues.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let q = &self.queues[&id];
            let time = self.agent_time(&q.agents, now);
            let mut start = self.day_start;
            while start < now {
                let mut sums = q.grains.get(&start).copied().unwrap_or_default();
                if let Some(&(handling, idle)) = time.get(&start) {
                    sums.handling_ms += handling;
                    sums.idle_ms += idle;
                }
                out.push(IntervalSums {
                    queue: id,
                    start,
                    end: start + GRAIN_MS,
                    sums,
                });
                start += GRAIN_MS;
            }
        }
        out
    }

    /// (handling, idle) ms of these agents by grain, from the day's start until `now`.
    fn agent_time(&self, agents: &[i64], now: i64) -> BTreeMap<i64, (i64, i64)> {
        let mut out: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        for agent in agents {
            let Some(a) = self.agents.get(agent) else {
                continue;
            };
            for (&g, &(h, i)) in &a.grains {
                let e = out.entry(g).or_default();
                e.0 += h;
                e.1 += i;
            }
            if a.since >= self.day_start - STATUS_LOOKBACK_MS {
                spread(&mut out, a.status, a.since, now, self.day_start);
            }
        }
        out
    }

    /// How many contacts are being followed and how many finished visits are kept (for
    /// the memory figures).
    pub fn sizes(&self) -> (usize, usize) {
        (self.open.len(), self.done.len())
    }

    fn count(&mut self, v: &QueueVisit, add: bool) {
        let short = self.short_abandon_ms;
        let Some(q) = self.queues.get_mut(&v.queue) else {
            return;
        };
        let grain = grain_start(v.entered_at, self.day_start);
        if v.entered_at < self.day_start {
            // A finished day's visit changed: its stored grain is corrected.
            let mut delta = Sums::default();
            if add {
                delta.add_visit(v, q.sl_threshold_ms, short);
            } else {
                delta.remove_visit(v, q.sl_threshold_ms, short);
            }
            self.corrections.push_back(IntervalSums {
                queue: v.queue,
                start: grain,
                end: grain + GRAIN_MS,
                sums: delta,
            });
            return;
        }
        let sums = q.grains.entry(grain).or_default();
        if add {
            sums.add_visit(v, q.sl_threshold_ms, short);
        } else {
            sums.remove_visit(v, q.sl_threshold_ms, short);
        }
    }

    /// Sums of one queue (or all) again from the day's visits.
    fn rebuild(&mut self, only: Option<i64>) {
        let day = self.day_start;
        let short = self.short_abandon_ms;
        for (id, q) in self.queues.iter_mut() {
            if only.is_some_and(|o| o != *id) {
                continue;
            }
            q.grains.clear();
        }
        let visits = self
            .done
            .iter()
            .chain(self.open.values().flat_map(|t| t.visits.iter()));
        for v in visits {
            if v.entered_at < day || only.is_some_and(|o| o != v.queue) {
                continue;
            }
            if let Some(q) = self.queues.get_mut(&v.queue) {
                q.grains
                    .entry(grain_start(v.entered_at, day))
                    .or_default()
                    .add_visit(v, q.sl_threshold_ms, short);
            }
        }
    }
}

/// Adds a status held over [from, to) — counted from `day_start` — to `grains` as
/// (handling, idle) ms per grain.
fn spread(
    grains: &mut BTreeMap<i64, (i64, i64)>,
    status: AgentStatus,
    from: i64,
    to: i64,
    day_start: i64,
) {
    let handling = match status {
        AgentStatus::Busy | AgentStatus::AfterCallWork => true,
        AgentStatus::Available | AgentStatus::Offered => false,
        AgentStatus::NotReady | AgentStatus::Offline => return,
    };
    let mut t = from.max(day_start);
    while t < to {
        let g = grain_start(t, day_start);
        let end = (g + GRAIN_MS).min(to);
        let e = grains.entry(g).or_default();
        if handling {
            e.0 += end - t;
        } else {
            e.1 += end - t;
        }
        t = end;
    }
}

#[cfg(test)]
mod tests;
