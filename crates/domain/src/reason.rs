//! Not-ready reason codes. Tenants may add their own; these exist everywhere.

/// (code, English, Japanese)
pub const DEFAULT_REASONS: &[(&str, &str, &str)] = &[
    ("break", "Break", "休憩"),
    ("lunch", "Lunch", "昼食"),
    ("meeting", "Meeting", "会議"),
    ("training", "Training", "研修"),
    ("coaching", "Coaching", "コーチング"),
    ("admin_work", "Back-office work", "事務作業"),
    ("missed_offers", "Missed offers", "応答なし"),
    ("other", "Other", "その他"),
];

/// The reason the router's automatic not-ready carries.
pub const MISSED_OFFERS: &str = "missed_offers";

/// Reason codes: lowercase ASCII letters, digits and underscores, 1–32 characters.
pub fn is_valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 32
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}
