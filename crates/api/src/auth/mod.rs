//! Authentication pieces with no HTTP in them: password hashing, tokens, login throttling.

pub mod password;
pub mod throttle;
pub mod token;
