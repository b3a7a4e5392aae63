//! Phone numbers: the one rule for every place a number enters — customers' numbers, the
//! screen-pop lookup, contacts, click-to-call, consultation and transfer targets, the
//! numbers a flow forwards to, a trunk's caller ID and the number a SIP caller presents.
//!
//! A number is written with digits (ASCII or full-width `０`–`９`), an optional leading `+`
//! (or `＋`), and the separators people use: spaces (any Unicode space: `　`, the no-break
//! space of numbers pasted from spreadsheets), dashes (`-`, `‐`, `‑`, `‒`, `–`, `—`, `―`, `−`,
//! `－`, `ー`, `ｰ`), dots, 中黒 (`・`) and parentheses (also `（` `）`). Anything else
//! — a letter above all — makes it not a number: it is refused, never read as a keypad digit
//! (`03-1234-567a` is a typo, not `…5672`).
//!
//! Full numbers are stored and looked up in E.164 (`+81312345678`): `03-1234-5678`,
//! `090 1234 5678`, `+81 3 1234 5678`, `+81 (0)3-1234-5678` (the trunk 0 kept after the
//! country code), `０３（１２３４）５６７８`. A 0-prefixed national number is read in the tenant's
//! default region (JP for Japanese centers). A number written without `+` must keep its
//! trunk prefix: `3-5555-0117` (a dropped 0) and `81355550125` (a dropped +) are refused,
//! not guessed; only numbers the network gives ([`caller_e164`]) may be E.164 without `+`.

use std::str::FromStr;

use phonenumber::country;

/// Why a text is not (usable as) a phone number. The messages complete a field name:
/// `phones[0].number: is not a valid number in JP`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("is empty")]
    Empty,
    #[error("must not contain {}: a phone number has digits, spaces, dashes, dots, parentheses and a leading + only", shown(.0))]
    Character(char),
    #[error("has a + that is not at the start")]
    MisplacedPlus,
    #[error("has no digits")]
    NoDigits,
    #[error("is too long for a phone number ({MAX_CHARS} characters at most)")]
    TooLong,
    #[error("is not a phone number")]
    Unparseable,
    /// Carries where it was read: `in JP`, `for country code +1`.
    #[error("is not a valid number {0}")]
    Invalid(String),
    #[error("must have 3 to 15 digits")]
    DigitCount,
    #[error("unknown region code {0}")]
    UnknownRegion(String),
    /// A national number written without its trunk prefix (carries the prefix, `0`).
    #[error("must start with {0} when written without a country code (or start with + and the country code)")]
    NoTrunkPrefix(String),
}

/// Longer than this, what was typed is not a number (E.164 has 15 digits; separators, an
/// international prefix and a trunk 0 fit well within it).
pub const MAX_CHARS: usize = 40;

/// Dashes people and input methods type between groups of digits.
fn is_dash(c: char) -> bool {
    matches!(
        c,
        '-' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' | '－' | 'ー' | 'ｰ'
    )
}

fn is_separator(c: char) -> bool {
    // Any Unicode space (a no-break space comes with numbers pasted from spreadsheets and
    // web pages) and the 中黒 some write between groups (03・1234・5678).
    is_dash(c) || c.is_whitespace() || matches!(c, '.' | '(' | ')' | '（' | '）' | '・' | '･')
}

/// A character as an error shows it: itself and its code point, so that an invisible one
/// (a control or format character) can still be found.
fn shown(c: &char) -> String {
    format!("`{c}` (U+{:04X})", *c as u32)
}

/// The digits of a number as written, with `+` first when it was given: `+810312345678`
/// for `+81 (0)3-1234-5678`. This is the lexical rule every entry point shares.
///
/// Errors: [`PhoneError::Empty`], [`PhoneError::TooLong`], [`PhoneError::Character`] (the
/// first character that has no place in a number), [`PhoneError::MisplacedPlus`],
/// [`PhoneError::NoDigits`].
pub fn digits(raw: &str) -> Result<String, PhoneError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(PhoneError::Empty);
    }
    if s.chars().count() > MAX_CHARS {
        return Err(PhoneError::TooLong);
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '0'..='9' => out.push(c),
            '０'..='９' => out.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
            '+' | '＋' if out.is_empty() => out.push('+'),
            '+' | '＋' => return Err(PhoneError::MisplacedPlus),
            c if is_separator(c) => {}
            c => return Err(PhoneError::Character(c)),
        }
    }
    if out.trim_start_matches('+').is_empty() {
        return Err(PhoneError::NoDigits);
    }
    Ok(out)
}

fn region_id(region: &str) -> Result<country::Id, PhoneError> {
    country::Id::from_str(&region.to_ascii_uppercase())
        .map_err(|_| PhoneError::UnknownRegion(region.to_string()))
}

/// Normalizes a full number to E.164 (`+81312345678`). `default_region` is an ISO 3166
/// code such as `JP` or `US`, used for numbers written without `+`.
///
/// Errors: anything [`digits`] refuses; [`PhoneError::Unparseable`] or
/// [`PhoneError::Invalid`] when the digits are no valid number (too short, a range that does
/// not exist); [`PhoneError::UnknownRegion`].
pub fn normalize_phone(raw: &str, default_region: &str) -> Result<String, PhoneError> {
    let d = digits(raw)?;
    let region = region_id(default_region)?;
    let number = valid_number(&d, region, default_region)?;
    // Written without +, a number of the region must be written as it is dialed there,
    // with its trunk prefix (0 in Japan): `3-5555-0117` lost its 0, `81355550125` its +.
    // The parser would guess either into a number; a person's typo is refused instead.
    if !d.starts_with('+') && number.country().id() == Some(region) {
        let national: String = number
            .format()
            .mode(phonenumber::Mode::National)
            .to_string()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let significant = number.national().to_string();
        if let Some(prefix) = national.strip_suffix(significant.as_str()) {
            if !prefix.is_empty() && !d.starts_with(prefix) {
                return Err(PhoneError::NoTrunkPrefix(prefix.to_string()));
            }
        }
    }
    Ok(e164(&number))
}

/// `d` (as [`digits`] gives it) read in `region` as a valid full number.
fn valid_number(
    d: &str,
    region: country::Id,
    region_code: &str,
) -> Result<phonenumber::PhoneNumber, PhoneError> {
    let number = phonenumber::parse(Some(region), d).map_err(|_| PhoneError::Unparseable)?;
    if !phonenumber::is_valid(&number) {
        let r = match number.country().id() {
            Some(c) => format!("in {c:?}"),
            None if d.starts_with('+') => {
                format!("for country code +{}", number.country().code())
            }
            None => format!("in {}", region_code.to_ascii_uppercase()),
        };
        return Err(PhoneError::Invalid(r));
    }
    Ok(number)
}

fn e164(n: &phonenumber::PhoneNumber) -> String {
    n.format().mode(phonenumber::Mode::E164).to_string()
}

/// How to dial a number through a carrier: E.164 (`+81312345678`), or for a carrier that
/// wants national numbers, the national form (`0312345678`) when the number is in
/// `region`. A short number that is no full number (an extension or service code behind a
/// PBX: `110`, `2001`) is dialed as its 3 to 15 digits.
///
/// Errors: anything [`digits`] refuses (a letter is never dialed as a digit);
/// [`PhoneError::DigitCount`] for a short number outside 3–15 digits; the errors of
/// [`normalize_phone`] for a `+` number that is not valid.
pub fn dial_string(raw: &str, region: &str, national: bool) -> Result<String, PhoneError> {
    let d = digits(raw)?;
    let e164 = match normalize_phone(&d, region) {
        Ok(n) => n,
        Err(e) if d.starts_with('+') => return Err(e),
        Err(PhoneError::UnknownRegion(r)) => return Err(PhoneError::UnknownRegion(r)),
        Err(_) if (3..=15).contains(&d.len()) => return Ok(d),
        Err(_) => return Err(PhoneError::DigitCount),
    };
    if !national {
        return Ok(e164);
    }
    let id = region_id(region)?;
    Ok(match phonenumber::parse(Some(id), &e164) {
        Ok(n) if n.country().id() == Some(id) => n
            .format()
            .mode(phonenumber::Mode::National)
            .to_string()
            .chars()
            .filter(|c| c.is_ascii_digit())
            .collect(),
        _ => e164,
    })
}

/// The number a SIP caller presents, from the user part of its `From` URI: the user
/// parameters Japanese carriers add are dropped (`0312345678;cpc=ordinary` →
/// `0312345678`). A caller that presents no number (`anonymous`, `Restricted`, an empty
/// user part) is `None`: unknown — never digits made up from letters. Separators are
/// dropped (`+81-3-5555-0101` → `+81355550101`).
pub fn sip_caller(user: &str) -> Option<String> {
    let number = user.split(';').next().unwrap_or_default().trim();
    // As digits: a `tel:` identity may carry visual separators (`+81-3-5555-0101`).
    digits(number).ok()
}

/// A number the network gives (a SIP caller's `From` user, the number a carrier says was
/// called) in E.164, when it is a full number ([`sip_caller`], then [`normalize_phone`],
/// and E.164 without its `+` as carriers send it). For the screen-pop and the flow lookup.
pub fn caller_e164(user: &str, region: &str) -> Option<String> {
    let n = sip_caller(user)?;
    match normalize_phone(&n, region) {
        Ok(e) => Some(e),
        // Carriers present E.164 without its + (`81312345678`). Read so only here, where
        // the network gives the number, and only when both readings agree (`312345678`
        // would be the Netherlands with a +: no number).
        Err(PhoneError::NoTrunkPrefix(_)) => {
            let id = region_id(region).ok()?;
            let as_is = valid_number(&n, id, region).ok()?;
            let plus = valid_number(&format!("+{n}"), id, region).ok()?;
            (e164(&as_is) == e164(&plus)).then(|| e164(&plus))
        }
        Err(_) => None,
    }
}

/// Checks a region code the way [`normalize_phone`] will use it.
pub fn is_known_region(code: &str) -> bool {
    region_id(code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_dialed_the_way_the_carrier_wants() {
        let d = |raw, national| dial_string(raw, "JP", national).unwrap();
        assert_eq!(d("03-1234-5678", false), "+81312345678");
        assert_eq!(d("+81 3 1234 5678", true), "0312345678");
        assert_eq!(d("090-1234-5678", true), "09012345678");
        assert_eq!(
            d("+1 212 555 0100", true),
            "+12125550100",
            "abroad stays E.164"
        );
        assert_eq!(d("1234", true), "1234", "short codes as digits");
        assert_eq!(d("１１０", false), "110");
    }

    #[test]
    fn what_is_not_a_number_is_never_dialed() {
        for raw in [
            "03-1234-567a",
            "anonymous",
            "1-800-FLOWERS",
            "12",
            "",
            "+",
            "0312345678#",
        ] {
            assert!(dial_string(raw, "JP", false).is_err(), "{raw}");
        }
        assert_eq!(
            dial_string("1234567890123456", "JP", false),
            Err(PhoneError::DigitCount)
        );
        assert!(
            dial_string("+99 1234", "JP", false).is_err(),
            "no such country"
        );
    }

    #[test]
    fn japanese_numbers_in_every_usual_form() {
        for (raw, want) in [
            ("03-1234-5678", "+81312345678"),
            ("0312345678", "+81312345678"),
            ("03 1234 5678", "+81312345678"),
            ("03.1234.5678", "+81312345678"),
            ("(03) 1234-5678", "+81312345678"),
            ("+81 3-1234-5678", "+81312345678"),
            ("+81312345678", "+81312345678"),
            ("+81-3-1234-5678", "+81312345678"),
            ("+81 3 1234-5678", "+81312345678"),
            ("+81 (0)3-1234-5678", "+81312345678"),
            ("+81-03-1234-5678", "+81312345678"),
            ("+810312345678", "+81312345678"),
            ("０３（１２３４）５６７８", "+81312345678"),
            ("０９０ー１２３４ー５６７８", "+819012345678"),
            ("０３‐１２３４‐５６７８", "+81312345678"),
            ("03－1234－5678", "+81312345678"),
            ("03―1234―5678", "+81312345678"),
            ("＋８１　３　１２３４　５６７８", "+81312345678"),
            ("03\u{a0}1234\u{a0}5678", "+81312345678"),
            ("03・1234・5678", "+81312345678"),
            ("0120-123-456", "+81120123456"),
            ("0800-123-4567", "+818001234567"),
            ("0570-012-345", "+81570012345"),
            ("050-1234-5678", "+815012345678"),
            ("070-1234-5678", "+817012345678"),
            ("080-1234-5678", "+818012345678"),
            ("090-1234-5678", "+819012345678"),
            ("020-1234-5678", "+812012345678"),
            ("06-6123-4567", "+81661234567"),
            (" 03-1234-5678 ", "+81312345678"),
        ] {
            assert_eq!(normalize_phone(raw, "JP").as_deref(), Ok(want), "{raw}");
        }
        assert_eq!(
            normalize_phone("06-6123-4567", "jp").as_deref(),
            Ok("+81661234567")
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
        assert_eq!(
            normalize_phone("+44 (0)20 7946 0018", "JP").unwrap(),
            "+442079460018"
        );
    }

    #[test]
    fn a_letter_is_refused_not_read_as_a_keypad_digit() {
        for (raw, c) in [
            ("03-1234-567a", 'a'),
            ("03-1234-567８a", 'a'),
            ("tanaka0312345678@example.jp", 't'),
            ("1-800-FLOWERS", 'F'),
            ("03-1234-5678 ext. 12", 'e'),
            ("0312345678;cpc=ordinary", ';'),
            ("03-1234-5678\u{0}", '\u{0}'),
            ("03/1234/5678", '/'),
            ("*31#0312345678", '*'),
        ] {
            assert_eq!(
                normalize_phone(raw, "JP"),
                Err(PhoneError::Character(c)),
                "{raw}"
            );
        }
        assert_eq!(
            normalize_phone("03+1234-5678", "JP"),
            Err(PhoneError::MisplacedPlus)
        );
        // An invisible character is named by its code point too.
        let e = normalize_phone("03-1234\u{200b}-5678", "JP").unwrap_err();
        assert!(e.to_string().contains("(U+200B)"), "{e}");
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(normalize_phone("", "JP"), Err(PhoneError::Empty));
        assert_eq!(normalize_phone("  　", "JP"), Err(PhoneError::Empty));
        assert_eq!(normalize_phone("- ( )", "JP"), Err(PhoneError::NoDigits));
        assert_eq!(normalize_phone("+", "JP"), Err(PhoneError::NoDigits));
        assert!(normalize_phone("hello", "JP").is_err());
        assert!(normalize_phone("03-1234", "JP").is_err());
        assert_eq!(
            normalize_phone(&"0".repeat(41), "JP"),
            Err(PhoneError::TooLong)
        );
        assert!(matches!(
            normalize_phone("03-1234-5678", "XX"),
            Err(PhoneError::UnknownRegion(_))
        ));
        // The country in the message is the number's, not the tenant's.
        assert_eq!(
            normalize_phone("03-1234", "JP").unwrap_err().to_string(),
            "is not a valid number in JP"
        );
        assert_eq!(
            normalize_phone("+1 415 555", "JP"),
            Err(PhoneError::Invalid("for country code +1".into()))
        );
    }

    #[test]
    fn a_national_number_keeps_its_trunk_prefix() {
        // A dropped 0 or a dropped + is a typo, not a number to guess.
        for raw in [
            "3-5555-0117",
            "355550117",
            "81355550125",
            "81-3-5555-0125",
            "90-1234-5678",
        ] {
            assert_eq!(
                normalize_phone(raw, "JP"),
                Err(PhoneError::NoTrunkPrefix("0".into())),
                "{raw}"
            );
        }
        assert_eq!(
            normalize_phone("3-5555-0117", "JP").unwrap_err().to_string(),
            "must start with 0 when written without a country code (or start with + and the country code)"
        );
        // With the + (and the trunk 0 kept or not) they are numbers.
        assert_eq!(
            normalize_phone("+81355550125", "JP").as_deref(),
            Ok("+81355550125")
        );
        // A region whose national form has no trunk prefix is read as before.
        assert_eq!(
            normalize_phone("415 555 2671", "US").as_deref(),
            Ok("+14155552671")
        );
        // A number dialed abroad with the international prefix is not a national number.
        assert_eq!(
            normalize_phone("010-1-415-555-2671", "JP").as_deref(),
            Ok("+14155552671")
        );
        // A carrier's caller ID without its + is read when unambiguous.
        assert_eq!(
            caller_e164("81355550125", "JP").as_deref(),
            Some("+81355550125")
        );
        assert_eq!(
            caller_e164("0355550125;cpc=ordinary", "JP").as_deref(),
            Some("+81355550125")
        );
        assert_eq!(caller_e164("355550125", "JP"), None);
    }

    #[test]
    fn a_sip_caller_is_its_number_or_unknown() {
        assert_eq!(sip_caller("0312345678").as_deref(), Some("0312345678"));
        assert_eq!(
            sip_caller("0312345678;cpc=ordinary").as_deref(),
            Some("0312345678")
        );
        assert_eq!(sip_caller("+81312345678").as_deref(), Some("+81312345678"));
        assert_eq!(sip_caller("201").as_deref(), Some("201"), "an extension");
        assert_eq!(
            sip_caller("+81-3-5555-0101").as_deref(),
            Some("+81355550101"),
            "a tel: identity's separators"
        );
        for unknown in [
            "anonymous",
            "Anonymous",
            "Restricted",
            "",
            "unknown",
            "非通知",
        ] {
            assert_eq!(sip_caller(unknown), None, "{unknown}");
        }
        assert_eq!(
            caller_e164("0312345678;cpc=ordinary", "JP").as_deref(),
            Some("+81312345678")
        );
        assert_eq!(caller_e164("anonymous", "JP"), None);
        assert_eq!(caller_e164("201", "JP"), None);
    }
}
