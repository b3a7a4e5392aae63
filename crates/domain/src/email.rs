//! Email addresses are stored trimmed and lower-cased so lookups match however they were
//! typed. (Local parts are case-sensitive in theory; no real mailbox provider treats them so.)

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("is empty")]
    Empty,
    #[error("is not an email address")]
    Invalid,
    #[error("is longer than 254 characters")]
    TooLong,
}

pub fn normalize_email(raw: &str) -> Result<String, EmailError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(EmailError::Empty);
    }
    if s.len() > 254 {
        return Err(EmailError::TooLong);
    }
    let (local, domain) = s.rsplit_once('@').ok_or(EmailError::Invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
    let local_ok = !local.is_empty() && local.len() <= 64 && !local.contains('@');
    if !domain_ok || !local_ok || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(EmailError::Invalid);
    }
    Ok(s.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_validates() {
        assert_eq!(
            normalize_email("  Taro.Yamada@Example.CO.JP ").unwrap(),
            "taro.yamada@example.co.jp"
        );
        for bad in [
            "taro",
            "taro@",
            "@example.com",
            "taro@example",
            "ta ro@example.com",
            "a@b..c",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
