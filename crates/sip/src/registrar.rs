//! Registrations of agents' phones: who is reachable where, until when.
//!
//! Kept in memory: phones re-register every minute or so, so after a restart the table
//! fills again by itself. An address of record may have several contacts (desk phone and
//! softphone); the newest is tried first.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

/// Largest registration interval we grant, and the smallest we accept.
pub const MAX_EXPIRES: u32 = 3600;
pub const MIN_EXPIRES: u32 = 30;
/// Contacts kept per address of record.
pub const MAX_CONTACTS: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI the phone registered.
    pub contact: String,
    /// Where its REGISTER came from: requests go there (symmetric signaling behind NAT).
    pub source: SocketAddr,
    pub transport: Transport,
    pub expires_at: i64,
    pub user_agent: Option<String>,
}

#[derive(Debug, Default)]
pub struct Registrar {
    bindings: Mutex<HashMap<String, Vec<Binding>>>,
}

impl Registrar {
    /// Adds or refreshes a binding; returns the address's live bindings.
    pub fn register(&self, user: &str, b: Binding, now: i64) -> Vec<Binding> {
        let mut map = self.bindings.lock().expect("registrar");
        let list = map.entry(user.to_string()).or_default();
        list.retain(|x| x.expires_at > now && x.contact != b.contact);
        list.insert(0, b);
        list.truncate(MAX_CONTACTS);
        list.clone()
    }

    /// Removes one contact (`Expires: 0`) or all (`Contact: *`).
    pub fn unregister(&self, user: &str, contact: Option<&str>, now: i64) -> Vec<Binding> {
        let mut map = self.bindings.lock().expect("registrar");
        let list = map.entry(user.to_string()).or_default();
        match contact {
            Some(c) => list.retain(|x| x.contact != c && x.expires_at > now),
            None => list.clear(),
        }
        list.clone()
    }

    /// Live bindings, newest first.
    pub fn lookup(&self, user: &str, now: i64) -> Vec<Binding> {
        let map = self.bindings.lock().expect("registrar");
        map.get(user)
            .map(|l| l.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default()
    }

    /// Drops expired bindings (housekeeping).
    pub fn purge(&self, now: i64) {
        let mut map = self.bindings.lock().expect("registrar");
        for list in map.values_mut() {
            list.retain(|b| b.expires_at > now);
        }
        map.retain(|_, l| !l.is_empty());
    }

    pub fn count(&self) -> usize {
        self.bindings
            .lock()
            .expect("registrar")
            .values()
            .map(Vec::len)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(contact: &str, exp: i64) -> Binding {
        Binding {
            contact: contact.into(),
            source: "127.0.0.1:5080".parse().unwrap(),
            transport: Transport::Udp,
            expires_at: exp,
            user_agent: None,
        }
    }

    #[test]
    fn bindings_expire_refresh_and_unregister() {
        let r = Registrar::default();
        r.register("sato", b("sip:sato@10.0.0.1", 100), 0);
        r.register("sato", b("sip:sato@10.0.0.2", 200), 0);
        assert_eq!(r.lookup("sato", 50).len(), 2);
        assert_eq!(
            r.lookup("sato", 50)[0].contact,
            "sip:sato@10.0.0.2",
            "newest first"
        );
        assert_eq!(r.lookup("sato", 150).len(), 1);
        r.register("sato", b("sip:sato@10.0.0.2", 300), 150);
        assert_eq!(r.lookup("sato", 250).len(), 1);
        r.unregister("sato", Some("sip:sato@10.0.0.2"), 250);
        assert!(r.lookup("sato", 250).is_empty());
        r.purge(1000);
        assert_eq!(r.count(), 0);
    }
}
