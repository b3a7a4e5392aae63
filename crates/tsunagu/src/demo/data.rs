//! The demo center's data, by name: `assets/demo/center.toml`, embedded in the binary and
//! read once. A test reads it too (and so fails at once if it does not parse).

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoCenter {
    pub tenant: Tenant,
    pub skills: Vec<Skill>,
    pub queues: Vec<Queue>,
    pub dispositions: Vec<Disposition>,
    pub admin: Person,
    pub supervisor: Supervisor,
    /// In extension order: 1001, 1002, …
    pub agents: Vec<Agent>,
    pub customers: Vec<Customer>,
    /// Past contacts of the sample customers, taken in turn.
    pub history: Vec<Past>,
    pub notes: Notes,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub slug: String,
    pub name: String,
    pub time_zone: String,
    pub region: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skill {
    pub name: String,
    pub display_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    pub name: String,
    pub display_name: String,
    pub strategy: String,
    pub priority: i64,
    /// Service-level target, % answered within `sl_threshold_secs`.
    pub sl_target_pct: i64,
    pub sl_threshold_secs: i64,
    pub max_wait_secs: Option<i64>,
    /// The queue (by name) a caller moves to after the maximum wait.
    pub overflow: Option<String>,
    pub wrap_up_secs: Option<i64>,
    pub record_calls: bool,
    pub requirements: Vec<Requirement>,
}

/// A required skill whose minimum level relaxes over the waiting time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub skill: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub after_secs: i64,
    pub min_level: u8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disposition {
    /// None: offered in every queue.
    pub queue: Option<String>,
    pub code: String,
    pub name: String,
    pub name_ja: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub username: String,
    pub display_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Supervisor {
    pub username: String,
    pub display_name: String,
    pub extension: String,
    pub skills: Vec<SkillLevel>,
    pub queues: Vec<Membership>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub username: String,
    pub name: String,
    pub skills: Vec<SkillLevel>,
    pub queues: Vec<Membership>,
    /// Chats and emails the agent takes at once besides a call.
    pub chat: i64,
    pub email: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillLevel {
    pub skill: String,
    pub level: i64,
}

/// A queue the agent serves, and their place in its order (for the `ordered` strategy).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    pub queue: String,
    pub position: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    pub name: String,
    #[serde(default)]
    pub kana: Option<String>,
    pub phone: String,
    pub email: String,
    /// 会員ランク
    pub rank: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Past {
    pub queue: String,
    pub agent: String,
    pub disposition: String,
    pub channel: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notes {
    pub texts: Vec<String>,
}

const TEXT: &str = include_str!("../../../../assets/demo/center.toml");

/// The demo center's data (the embedded file is checked by a test, so this cannot fail in a
/// released binary; it still reports the file's line and column if it does).
pub fn center() -> anyhow::Result<DemoCenter> {
    toml::from_str(TEXT).map_err(|e| anyhow::anyhow!("assets/demo/center.toml: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_data_reads() {
        let c = super::center().unwrap();
        assert_eq!(c.tenant.slug, "demo");
        assert_eq!(
            (
                c.skills.len(),
                c.queues.len(),
                c.agents.len(),
                c.customers.len()
            ),
            (6, 5, 8, 22)
        );
    }
}
