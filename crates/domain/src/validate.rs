//! Field-level validation errors: every bad input names the field and the problem.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Path of the field in the request, e.g. `phones[1]` or `requirements[0].steps`.
    pub field: String,
    pub message: String,
}

/// Collects field errors; empty means valid.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Checks a display name or label: one line (no control characters, not even a line
    /// break or a tab), non-blank, at most `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.add(field, "must not be empty");
        } else {
            self.line(field, value, max);
        }
    }

    /// Checks optional one-line text (a subject, a reason): no control characters, at most
    /// `max` characters; it may be empty.
    pub fn line(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().any(char::is_control) {
            self.add(
                field,
                "must be one line without control characters (line breaks, tabs, …)",
            );
        } else if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        }
    }

    /// Checks free text (a note): non-blank, at most `max` characters, no control characters
    /// but line breaks and tabs.
    pub fn multiline(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.add(field, "must not be empty");
        } else if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            self.add(field, "must not contain control characters");
        } else if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        }
    }

    /// Checks a machine name: 1–64 of ASCII letters, digits, `-`, `_`, `.`.
    pub fn slug(&mut self, field: &str, value: &str) {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            self.add(
                field,
                "must be 1-64 characters of letters, digits, '-', '_' or '.'",
            );
        }
    }

    pub fn range<T: PartialOrd + std::fmt::Display>(
        &mut self,
        field: &str,
        value: T,
        min: T,
        max: T,
    ) {
        if value < min || value > max {
            self.add(field, format!("must be between {min} and {max}"));
        }
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(f: impl FnOnce(&mut FieldErrors)) -> Vec<String> {
        let mut e = FieldErrors::new();
        f(&mut e);
        e.0.into_iter().map(|e| e.message).collect()
    }

    #[test]
    fn one_line_text_has_no_control_characters() {
        assert!(fields(|e| e.text("name", "山田 太郎", 10)).is_empty());
        for bad in ["a\u{0}b", "a\nb", "a\tb", "a\u{7f}", "a\u{85}"] {
            assert_eq!(fields(|e| e.text("name", bad, 10)).len(), 1, "{bad:?}");
            assert_eq!(fields(|e| e.line("name", bad, 10)).len(), 1, "{bad:?}");
        }
        assert!(fields(|e| e.line("reason", "", 10)).is_empty());
        assert_eq!(
            fields(|e| e.text("name", " ", 10)),
            vec!["must not be empty"]
        );
    }

    #[test]
    fn notes_keep_their_lines() {
        assert!(fields(|e| e.multiline("body", "一行目\r\n\t二行目", 100)).is_empty());
        assert_eq!(fields(|e| e.multiline("body", "a\u{0}", 100)).len(), 1);
        assert_eq!(fields(|e| e.multiline("body", "abc", 2)).len(), 1);
    }
}
