//! A contact as the core keeps it while it is open: what the store keeps of it, with its
//! channel, direction and status typed. The shell converts to and from stored rows.

use serde_json::{Map, Value};
use tsunagu_acd::Channel;
use tsunagu_domain::contact::{ContactStatus, Direction};

/// One contact (times in Unix ms).
#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    pub id: i64,
    pub channel: Channel,
    pub direction: Direction,
    pub status: ContactStatus,
    pub queue_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub priority: i64,
    pub subject: Option<String>,
    /// The phone number or email the customer used, as normalized.
    pub customer_address: Option<String>,
    /// A JSON object's text: what the channel and the flow learned (caller, keys, …).
    pub attributes: String,
    /// The contact's own skill requirements, as stored (JSON text).
    pub requirements: String,
    pub created_at: i64,
    /// First entered the ACD.
    pub queued_at: Option<i64>,
    /// Entered its current queue.
    pub queue_entered_at: Option<i64>,
    pub offered_at: Option<i64>,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub acw_done_at: Option<i64>,
    pub end_reason: Option<String>,
    pub disposition_code: Option<String>,
    pub updated_at: i64,
}

impl Contact {
    /// A contact created at `now` with nothing happened to it yet; callers add what they
    /// know with struct update syntax.
    pub fn new(
        id: i64,
        channel: Channel,
        direction: Direction,
        status: ContactStatus,
        now: i64,
    ) -> Contact {
        Contact {
            id,
            channel,
            direction,
            status,
            queue_id: None,
            customer_id: None,
            agent_id: None,
            priority: 0,
            subject: None,
            customer_address: None,
            attributes: "{}".into(),
            requirements: "[]".into(),
            created_at: now,
            queued_at: None,
            queue_entered_at: None,
            offered_at: None,
            answered_at: None,
            ended_at: None,
            acw_done_at: None,
            end_reason: None,
            disposition_code: None,
            updated_at: now,
        }
    }

    /// The number to call back, if the contact is a callback request.
    pub fn callback_number(&self) -> Option<String> {
        serde_json::from_str::<Value>(&self.attributes)
            .ok()?
            .get("callback_number")?
            .as_str()
            .map(str::to_string)
    }

    /// Adds `extra`'s keys to the attributes (over keys already there).
    pub fn merge_attributes(&mut self, extra: &Value) {
        let mut attrs: Map<String, Value> =
            serde_json::from_str(&self.attributes).unwrap_or_default();
        if let Some(m) = extra.as_object() {
            for (k, v) in m {
                attrs.insert(k.clone(), v.clone());
            }
        }
        self.attributes = Value::Object(attrs).to_string();
    }

    pub fn is_call(&self) -> bool {
        self.channel == Channel::Voice
    }

    /// What the lifecycle rules need of it.
    pub fn current(&self) -> crate::lifecycle::Current {
        crate::lifecycle::Current {
            id: self.id,
            status: self.status,
            agent: self.agent_id,
            has_disposition: self.disposition_code.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attributes_merge_over_existing_keys() {
        let mut c = Contact {
            attributes: r#"{"caller":"1","x":"old"}"#.into(),
            ..Contact::new(1, Channel::Voice, Direction::Inbound, ContactStatus::Ivr, 0)
        };
        c.merge_attributes(&json!({ "x": "new", "order_no": "123" }));
        let v: Value = serde_json::from_str(&c.attributes).unwrap();
        assert_eq!(v, json!({ "caller": "1", "x": "new", "order_no": "123" }));
        assert_eq!(c.callback_number(), None);
        c.merge_attributes(&json!({ "callback_number": "+81355550100" }));
        assert_eq!(c.callback_number().as_deref(), Some("+81355550100"));
    }
}
