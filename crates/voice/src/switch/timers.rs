//! Deadlines. Every timer of every call is one entry in the switch's deadline queue (a
//! binary heap ordered by time, then by arming order); a timer that no longer applies is
//! not removed but made stale by its call's generation counter, and skipped when it
//! fires. A step re-arms the flow deadline of the calls whose flow ran in it, so an input
//! costs O(log n) in the number of calls, not a scan of every call.

use std::cmp::Reverse;

use super::{Switch, Timer};
use crate::io::CallId;

impl Switch {
    /// The reference rule for flow deadlines: after every step, every call's deadline is
    /// checked against every armed timer (O(calls × timers) per input). For the benchmark's
    /// baseline and the equivalence test only.
    pub fn with_full_scan(mut self) -> Self {
        self.full_scan = true;
        self
    }

    /// Switches between the rules at run time (both keep the same state, so a benchmark
    /// can load the switch quickly and then time the reference).
    pub fn set_full_scan(&mut self, on: bool) {
        self.full_scan = on;
    }

    pub(super) fn after_step(&mut self) {
        if self.full_scan {
            self.rearm_by_full_scan();
            return;
        }
        // Arm the flow deadline of each call whose flow ran: only they can have moved.
        let mut touched = std::mem::take(&mut self.flow_touched);
        touched.sort_unstable();
        touched.dedup();
        for call in touched.drain(..) {
            let Some(c) = self.calls.get_mut(&call) else {
                continue;
            };
            let deadline = c.flow.as_ref().and_then(|f| f.poll_timeout());
            if deadline == c.flow_armed {
                continue;
            }
            // A new generation makes the timer armed before stale.
            c.flow_gen += 1;
            c.flow_armed = deadline;
            if let Some(at) = deadline {
                let t = Timer::Flow(c.flow_gen);
                self.arm(at, call, t);
            }
        }
        self.flow_touched = touched;
    }

    /// See [`Switch::with_full_scan`].
    fn rearm_by_full_scan(&mut self) {
        self.flow_touched.clear();
        let mut arm = Vec::new();
        for c in self.calls.values_mut() {
            if let Some(deadline) = c.flow.as_ref().and_then(|f| f.poll_timeout()) {
                let already = self.timers.iter().any(|t| {
                    t.0 .2 == c.id && t.0 .3 == Timer::Flow(c.flow_gen) && t.0 .0 == deadline
                });
                if !already {
                    c.flow_gen += 1;
                    arm.push((deadline, c.id, Timer::Flow(c.flow_gen)));
                }
            }
        }
        for (at, call, t) in arm {
            self.arm(at, call, t);
        }
    }

    pub(super) fn arm(&mut self, at: i64, call: CallId, t: Timer) {
        self.seq += 1;
        self.timers.push(Reverse((at, self.seq, call, t)));
    }
}
