//! Today's KPI figures per queue, kept by the tenant actor as its steps commit instead of
//! recomputed from the store on every request (`GET /api/kpi/realtime`).
//!
//! The figures themselves are `tsunagu_domain::kpi::live::DayFigures` (sans-IO, tested
//! against the recompute); this is its shell: it loads the day so far from the store when
//! the actor (re)builds, feeds it every event and agent state a step writes (before the
//! commit, so that its own writes join the step's transaction), turns the day at local
//! midnight — storing the finished day's 15-minute intervals — and corrects stored intervals
//! when a contact of a finished day changes; it follows the configuration the figures depend
//! on.

use std::collections::HashMap;

use tracing::warn;
use tsunagu_domain::kpi::live::DayFigures;
use tsunagu_domain::kpi::{start_of_day, IntervalSums, Kpis};
use tsunagu_store::rows::{QueueRow, TenantRow};
use tsunagu_store::{Store, StoreResult, Write};

use super::TenantActor;
use crate::reports::{event_record, status_record};

/// Today's 15-minute intervals so far (every queue's), and where today starts.
#[derive(Clone, Debug, Default)]
pub struct Today {
    pub day_start: i64,
    pub intervals: Vec<IntervalSums>,
}

pub(super) struct Figures {
    day: DayFigures,
    zone: String,
    /// A finished day to store: (start, end, its intervals).
    finished: Vec<(i64, i64, Vec<IntervalSums>)>,
    /// The time zone changed: the day's bounds moved, so the day is read again from the
    /// store before the next step.
    stale: bool,
}

impl Figures {
    /// Nothing yet (before the first rebuild).
    pub(super) fn empty() -> Figures {
        Figures {
            day: DayFigures::new(0, 0),
            zone: String::new(),
            finished: Vec::new(),
            stale: true,
        }
    }

    /// Reads the day so far (every committed event and agent state since local midnight)
    /// and the queues' settings.
    pub(super) async fn load(
        store: &Store,
        tenant: &TenantRow,
        queues: &HashMap<i64, QueueRow>,
        members: HashMap<i64, Vec<i64>>,
        now: i64,
    ) -> StoreResult<Figures> {
        let day_start = start_of_day(now, &tenant.time_zone);
        let mut figures = Figures {
            day: DayFigures::new(day_start, tenant.short_abandon_secs * 1000),
            zone: tenant.time_zone.clone(),
            finished: Vec::new(),
            stale: false,
        };
        figures.configure(queues, members, None);
        let day = &mut figures.day;
        // Yesterday is stored before anything can correct it (a lazy fill by a report
        // would race with the corrections below).
        let yesterday = start_of_day(day_start - 1, &tenant.time_zone);
        if !store
            .kpi_days(tenant.id, yesterday, day_start)
            .await?
            .contains(&yesterday)
        {
            crate::reports::store_day(store, tenant, yesterday, day_start, now).await?;
        }
        // The store gives events by contact, then time: each contact's own order is all
        // the figures need. Contacts from yesterday too, and every open contact however old
        // (a callback or voicemail may wait for days), so that one that changes later
        // corrects its day's stored intervals; what reading them says about finished days
        // is stored already, so the corrections of the load itself are dropped.
        let mut seen = std::collections::HashSet::new();
        for e in store.kpi_events(tenant.id, yesterday, now + 1).await? {
            seen.insert(e.contact_id);
            if let Some(r) = event_record(&e) {
                day.handle_event(&r);
            }
        }
        for e in store.open_contact_events(tenant.id).await? {
            if seen.contains(&e.contact_id) {
                continue;
            }
            if let Some(r) = event_record(&e) {
                day.handle_event(&r);
            }
        }
        while day.poll_correction().is_some() {}
        for s in store.agent_states(tenant.id, day_start, now + 1).await? {
            day.handle_agent_status(&status_record(&s));
        }
        Ok(figures)
    }

    /// Whether the day must be read again from the store (see [`Figures::load`]).
    pub(super) fn stale(&self) -> bool {
        self.stale
    }

    /// Called at the start of every step: a new local day starts the sums from zero; the
    /// finished day's intervals are stored with the step. A tenant quiet for days turns
    /// them one at a time (each day its own stored intervals).
    pub(super) fn turn_day(&mut self, now: i64) {
        let today = start_of_day(now, &self.zone);
        while self.day.day_start() > 0 && today > self.day.day_start() {
            let old = self.day.day_start();
            let next = start_of_day(old + 25 * 3_600_000, &self.zone).min(today);
            let intervals = self.day.start_day(next);
            self.finished.push((old, next, intervals));
        }
    }

    /// Takes over a finished day an earlier reading had not handed to a step yet (a reload
    /// after a resync or a time-zone change must not drop it).
    pub(super) fn keep_pending(&mut self, earlier: Figures) {
        let mut finished = earlier.finished;
        finished.append(&mut self.finished);
        self.finished = finished;
    }

    /// Reads what a step is about to write, before it is committed, and returns what the
    /// step must also write in the same transaction: the finished day's intervals if the
    /// day turned, then the corrections of finished days' stored intervals its events cause
    /// — so both are stored exactly when their events are. (A step the database refuses
    /// makes the actor read everything again from the store; a finished day lost with it is
    /// stored at the next load, or by the backfill.)
    pub(super) fn step(&mut self, writes: &[Write], tenant_id: i64) -> Vec<Write> {
        for w in writes {
            match w {
                Write::Event(e) => {
                    if let Some(r) = event_record(e) {
                        self.day.handle_event(&r);
                    }
                }
                Write::AgentState(s) => self.day.handle_agent_status(&status_record(s)),
                _ => {}
            }
        }
        let mut out: Vec<Write> = self
            .finished
            .drain(..)
            .map(|(start, end, intervals)| Write::KpiDay {
                tenant_id,
                start,
                end,
                intervals,
            })
            .collect();
        while let Some(correction) = self.day.poll_correction() {
            out.push(Write::KpiCorrection {
                tenant_id,
                correction,
            });
        }
        out
    }

    /// Today's intervals so far.
    pub(super) fn today_intervals(&self, now: i64) -> Today {
        Today {
            day_start: self.day.day_start(),
            intervals: self.day.grains(now),
        }
    }

    /// The tenant's settings changed.
    pub(super) fn tenant_changed(&mut self, t: &TenantRow) {
        self.day.set_short_abandon_ms(t.short_abandon_secs * 1000);
        if t.time_zone != self.zone {
            self.stale = true;
        }
    }

    /// Queues and who serves them, after a queue or an agent changed.
    pub(super) fn configure(
        &mut self,
        queues: &HashMap<i64, QueueRow>,
        mut members: HashMap<i64, Vec<i64>>,
        removed: Option<i64>,
    ) {
        if let Some(q) = removed {
            self.day.remove_queue(q);
        }
        for q in queues.values() {
            let agents = members.remove(&q.id).unwrap_or_default();
            self.day.set_queue(q.id, q.sl_threshold_secs * 1000, agents);
        }
    }

    /// Each queue's figures from local midnight until `now`.
    pub(super) fn today(&self, queues: impl Iterator<Item = i64>, now: i64) -> Vec<(i64, Kpis)> {
        queues
            .filter_map(|q| Some((q, self.day.kpis(q, now)?)))
            .collect()
    }
}

impl TenantActor {
    /// Who serves each queue (queue → agents).
    pub(super) fn members(&self) -> HashMap<i64, Vec<i64>> {
        let mut m: HashMap<i64, Vec<i64>> = HashMap::new();
        for (&id, a) in &self.agents {
            for &q in &a.queues {
                m.entry(q).or_default().push(id);
            }
        }
        m
    }

    /// Reads today's figures again from the store (after a rebuild or a time zone change).
    /// Without the store the figures stay as they were and are read again next step.
    pub(super) async fn load_figures(&mut self) {
        let (now, members) = (self.now, self.members());
        match Figures::load(&self.store, &self.tenant, &self.queues, members, now).await {
            Ok(mut f) => {
                f.keep_pending(std::mem::replace(&mut self.figures, Figures::empty()));
                self.figures = f;
            }
            Err(e) => warn!(tenant = %self.tenant.slug, "today's figures not read: {e}"),
        }
    }
}
