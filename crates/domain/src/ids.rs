//! Identifiers are generated here rather than by the database, so the same schema works on
//! SQLite and PostgreSQL and an id is known before the row is written.
//!
//! An id is `(milliseconds since 2024-01-01 UTC) << 12 | counter`: ordered by creation time,
//! unique within one process (4,096 per millisecond, borrowing from the next millisecond
//! under bursts), and below 2^53 until about 2058 so JavaScript clients read it exactly.

use std::sync::atomic::{AtomicI64, Ordering};

/// 2024-01-01T00:00:00Z in Unix milliseconds.
pub const ID_EPOCH_MS: i64 = 1_704_067_200_000;

/// A lock-free id generator. Start it above the largest id already stored so a clock set
/// back across a restart cannot repeat an id.
#[derive(Debug)]
pub struct IdGen {
    last: AtomicI64,
}

impl IdGen {
    pub fn new(floor: i64) -> Self {
        IdGen {
            last: AtomicI64::new(floor),
        }
    }

    /// The next id at wall-clock time `now_ms`.
    pub fn next(&self, now_ms: i64) -> i64 {
        let candidate = (now_ms - ID_EPOCH_MS).max(0) << 12;
        let prev = self
            .last
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
                Some(candidate.max(last + 1))
            })
            .expect("closure always returns Some");
        candidate.max(prev + 1)
    }
}

/// The creation time encoded in an id (milliseconds since the Unix epoch).
pub fn id_time(id: i64) -> i64 {
    (id >> 12) + ID_EPOCH_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_even_when_the_clock_stalls_or_goes_back() {
        let g = IdGen::new(0);
        let t = 1_767_571_200_000;
        let a = g.next(t);
        let b = g.next(t);
        let c = g.next(t - 10_000);
        assert!(a < b && b < c);
        assert_eq!(id_time(a), t);
        assert!(a < (1i64 << 53));
    }

    #[test]
    fn floor_is_respected() {
        let g = IdGen::new(i64::MAX / 4);
        assert!(g.next(1_767_571_200_000) > i64::MAX / 4);
    }
}
