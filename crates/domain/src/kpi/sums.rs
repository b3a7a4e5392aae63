//! Figures kept per finished interval: the sums of each queue's 15-minute intervals (the
//! grain) are stored once an interval is over, and a report of any length and interval
//! (15, 30, 60 minutes or the whole range) adds them up instead of reading every event
//! again. Adding sums gives exactly the recompute's figures: visits count in the interval
//! they entered, agent time where it was spent, and coarser intervals are unions of grains
//! (intervals start on the local clock's quarter hours; every time zone's offset is a whole
//! number of quarter hours, so the grain is the same in every zone).

use std::collections::HashMap;

use super::{intervals, IntervalKpis, KpiQuery, Sums};

/// The grain of stored intervals: 15 minutes, in ms.
pub const GRAIN_MS: i64 = 15 * 60_000;

/// One queue's sums over one interval [start, end) (Unix ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntervalSums {
    pub queue: i64,
    pub start: i64,
    pub end: i64,
    pub sums: Sums,
}

impl IntervalSums {
    /// The interval's figures.
    pub fn finish(&self) -> IntervalKpis {
        IntervalKpis {
            queue: self.queue,
            start: self.start,
            end: self.end,
            kpis: self.sums.finish(),
        }
    }
}

/// Start of the grain (15-minute interval) holding `t`, on the grid of the local day that
/// starts at `day_start` (any local midnight of the same zone gives the same grid).
pub fn grain_start(t: i64, day_start: i64) -> i64 {
    t - (t - day_start).rem_euclid(GRAIN_MS)
}

/// Each queue's figures over the whole of `q` from the sums of intervals that cover it once
/// (a report's totals are the sum of its rows: visits count in the one interval they entered,
/// agent time where it was spent).
pub fn totals(q: &KpiQuery, queues: &[i64], parts: &[IntervalSums]) -> Vec<IntervalKpis> {
    let mut acc: HashMap<i64, Sums> = queues.iter().map(|&q| (q, Sums::default())).collect();
    for p in parts {
        if let Some(s) = acc.get_mut(&p.queue) {
            s.add(&p.sums);
        }
    }
    queues
        .iter()
        .map(|queue| IntervalKpis {
            queue: *queue,
            start: q.from,
            end: q.to,
            kpis: acc[queue].finish(),
        })
        .collect()
}

/// The report of `q` for `queues` from sums of grains (or of any intervals that each fall
/// inside one of `q`'s intervals): each part is added to the interval holding its start.
/// Parts outside [q.from, q.to) or of other queues are left out.
pub fn regroup(q: &KpiQuery, queues: &[i64], parts: &[IntervalSums]) -> Vec<IntervalKpis> {
    let buckets = intervals(q);
    let index: HashMap<i64, usize> = queues.iter().enumerate().map(|(i, &q)| (q, i)).collect();
    let mut acc = vec![vec![Sums::default(); buckets.len()]; queues.len()];
    for p in parts {
        if p.start < q.from || p.start >= q.to {
            continue;
        }
        let Some(&qi) = index.get(&p.queue) else {
            continue;
        };
        let b = buckets.partition_point(|b| b.0 <= p.start);
        if b > 0 && p.start < buckets[b - 1].1 {
            acc[qi][b - 1].add(&p.sums);
        }
    }
    let mut out = Vec::with_capacity(queues.len() * buckets.len());
    for (qi, &queue) in queues.iter().enumerate() {
        for (b, &(start, end)) in buckets.iter().enumerate() {
            out.push(IntervalKpis {
                queue,
                start,
                end,
                kpis: acc[qi][b].finish(),
            });
        }
    }
    out
}
