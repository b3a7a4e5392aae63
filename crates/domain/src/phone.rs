//! Phone numbers are stored and looked up in E.164 (`+81312345678`), whatever form they
//! were typed or signalled in: `03-1234-5678`, `090 1234 5678`, `+81 3 1234 5678`,
//! full-width digits `０３（１２３４）５６７８`. A 0-prefixed national number is read in the
//! tenant's default region (JP for Japanese centers).

use std::str::FromStr;

use phonenumber::country;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("is empty")]
    Empty,
    #[error("is not a phone number")]
    Unparseable,
    #[error("is not a valid number in {0}")]
    Invalid(String),
    #[error("unknown region code {0}")]
    UnknownRegion(String),
}

/// Full-width digits and punctuation (common in Japanese input) to ASCII.
fn to_ascii(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '＋' => '+',
            '－' | 'ー' | '―' | '‐' | '−' => '-',
            '（' => '(',
            '）' => ')',
            '　' => ' ',
            _ => c,
        })
        .collect()
}

/// Normalizes to E.164. `default_region` is an ISO 3166 code such as `JP` or `US`.
pub fn normalize_phone(raw: &str, default_region: &str) -> Result<String, PhoneError> {
    let ascii = to_ascii(raw.trim());
    if ascii.is_empty() {
        return Err(PhoneError::Empty);
    }
    let region = country::Id::from_str(&default_region.to_ascii_uppercase())
        .map_err(|_| PhoneError::UnknownRegion(default_region.to_string()))?;
    let number = phonenumber::parse(Some(region), &ascii).map_err(|_| PhoneError::Unparseable)?;
    if !phonenumber::is_valid(&number) {
        let r = number
            .country()
            .id()
            .map(|c| format!("{c:?}"))
            .unwrap_or_else(|| default_region.to_string());
        return Err(PhoneError::Invalid(r));
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// How to dial a number through a carrier: E.164 (`+81312345678`), or for a carrier that
/// wants national numbers, the national form (`0312345678`) when the number is in
/// `region`. Anything that does not parse is dialed as its digits.
pub fn dial_string(raw: &str, region: &str, national: bool) -> String {
    let digits = || {
        to_ascii(raw)
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect()
    };
    let Ok(e164) = normalize_phone(raw, region) else {
        return digits();
    };
    if !national {
        return e164;
    }
    let Ok(id) = country::Id::from_str(&region.to_ascii_uppercase()) else {
        return e164;
    };
    match phonenumber::parse(Some(id), &e164) {
        Ok(n) if n.country().id() == Some(id) => n
            .format()
            .mode(phonenumber::Mode::National)
            .to_string()
            .chars()
            .filter(|c| c.is_ascii_digit())
            .collect(),
        _ => e164,
    }
}

/// Checks a region code the way [`normalize_phone`] will use it.
pub fn is_known_region(code: &str) -> bool {
    country::Id::from_str(&code.to_ascii_uppercase()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_dialed_the_way_the_carrier_wants() {
        assert_eq!(dial_string("03-1234-5678", "JP", false), "+81312345678");
        assert_eq!(dial_string("+81 3 1234 5678", "JP", true), "0312345678");
        assert_eq!(dial_string("090-1234-5678", "JP", true), "09012345678");
        assert_eq!(
            dial_string("+1 212 555 0100", "JP", true),
            "+12125550100",
            "abroad stays E.164"
        );
        assert_eq!(
            dial_string("1234", "JP", true),
            "1234",
            "short codes as digits"
        );
    }

    #[test]
    fn japanese_numbers_in_every_usual_form() {
        for raw in [
            "03-1234-5678",
            "0312345678",
            "03 1234 5678",
            "+81 3-1234-5678",
            "+81312345678",
            "０３（１２３４）５６７８",
        ] {
            assert_eq!(normalize_phone(raw, "JP").unwrap(), "+81312345678", "{raw}");
        }
        assert_eq!(
            normalize_phone("090-1234-5678", "JP").unwrap(),
            "+819012345678"
        );
        assert_eq!(
            normalize_phone("0120-123-456", "JP").unwrap(),
            "+81120123456"
        );
        assert_eq!(
            normalize_phone("06-6123-4567", "jp").unwrap(),
            "+81661234567"
        );
    }

    #[test]
    fn foreign_numbers_keep_their_country() {
        assert_eq!(
            normalize_phone("+1 415 555 2671", "JP").unwrap(),
            "+14155552671"
        );
        assert_eq!(
            normalize_phone("(415) 555-2671", "US").unwrap(),
            "+14155552671"
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(normalize_phone("", "JP"), Err(PhoneError::Empty));
        assert!(normalize_phone("hello", "JP").is_err());
        assert!(normalize_phone("03-1234", "JP").is_err());
        assert!(matches!(
            normalize_phone("03-1234-5678", "XX"),
            Err(PhoneError::UnknownRegion(_))
        ));
    }
}
