//! Roles: what a user may see and do.

use serde::{Deserialize, Serialize};

/// Ordered: each role may do everything the roles before it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// オペレーター: handles contacts; sees own work and the customers of those contacts.
    Agent,
    /// スーパーバイザー (SV): sees the whole tenant live, changes agents' states.
    Supervisor,
    /// 管理者: configures queues, skills, users, dispositions.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Agent, Role::Supervisor, Role::Admin];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub const fn label_ja(self) -> &'static str {
        match self {
            Role::Agent => "オペレーター",
            Role::Supervisor => "スーパーバイザー",
            Role::Admin => "管理者",
        }
    }

    /// May a user with this role act as `needed`?
    pub fn at_least(self, needed: Role) -> bool {
        self >= needed
    }
}
