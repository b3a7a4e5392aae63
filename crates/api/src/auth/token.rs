//! Bearer tokens (browser sessions and API tokens): 256 random bits, shown once, stored
//! only as a SHA-256 hash so a database leak does not leak live credentials.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix that makes tokens recognisable in secret scanners and logs.
pub const PREFIX: &str = "tsg_";

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = super::new_token();
        let b = super::new_token();
        assert_ne!(a, b);
        assert!(a.starts_with("tsg_") && a.len() > 40);
        assert_eq!(super::hash_token(&a), super::hash_token(&a));
        assert_eq!(super::hash_token(&a).len(), 64);
    }
}
