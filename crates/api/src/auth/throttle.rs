//! Throttling of failed logins, per account and per client address.
//!
//! Failures are counted over a window; past the limit the key is locked, for longer each
//! further failure (doubling, capped at an hour). A success clears the account's count.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Clone, Copy, Debug)]
pub struct ThrottlePolicy {
    pub max_failures: u32,
    pub window_ms: i64,
    pub base_lock_ms: i64,
    pub max_lock_ms: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            max_failures: 5,
            window_ms: 15 * 60_000,
            base_lock_ms: 60_000,
            max_lock_ms: 3_600_000,
        }
    }
}

#[derive(Debug, Default)]
struct Entry {
    failures: u32,
    first_at: i64,
    locked_until: i64,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    entries: Mutex<HashMap<String, Entry>>,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        LoginThrottle {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Ok, or the number of seconds to wait.
    pub fn check(&self, key: &str, now: i64) -> Result<(), u64> {
        let map = self.entries.lock().expect("throttle lock");
        match map.get(key) {
            Some(e) if e.locked_until > now => Err(((e.locked_until - now) as u64).div_ceil(1000)),
            _ => Ok(()),
        }
    }

    pub fn failure(&self, key: &str, now: i64, limit: u32) {
        let mut map = self.entries.lock().expect("throttle lock");
        if map.len() > 100_000 {
            // Bounded memory under a flood of distinct keys: forget idle entries.
            map.retain(|_, e| e.locked_until > now || now - e.first_at < self.policy.window_ms);
        }
        let e = map.entry(key.to_string()).or_default();
        if now - e.first_at > self.policy.window_ms && e.locked_until <= now {
            e.failures = 0;
            e.first_at = now;
        }
        e.failures += 1;
        if e.failures >= limit {
            let extra = (e.failures - limit).min(16);
            let lock = (self.policy.base_lock_ms << extra).min(self.policy.max_lock_ms);
            e.locked_until = now + lock;
        }
    }

    pub fn success(&self, key: &str) {
        self.entries.lock().expect("throttle lock").remove(key);
    }

    pub fn policy(&self) -> ThrottlePolicy {
        self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_and_longer_each_time() {
        let t = LoginThrottle::new(ThrottlePolicy::default());
        for _ in 0..4 {
            t.failure("u", 0, 5);
            assert!(t.check("u", 0).is_ok());
        }
        t.failure("u", 0, 5);
        assert_eq!(t.check("u", 0), Err(60));
        assert!(t.check("u", 60_000).is_ok());
        t.failure("u", 60_000, 5);
        assert_eq!(t.check("u", 60_000), Err(120));
        t.success("u");
        assert!(t.check("u", 60_000).is_ok());
    }
}
