//! Who is calling: the caller's identity from an INVITE's `From`, or — when `From` is
//! anonymous — from `P-Asserted-Identity` (RFC 3325), which carriers send with the network's
//! own view of the caller. Either may be a SIP URI (`sip:+81355550101@host;user=phone`, the
//! user part is the number) or a `tel:` URI (RFC 3966: `tel:+81355550101`, or a local
//! number with its context, `tel:03-5555-0101;phone-context=+81`).
//!
//! A caller who withholds the number (`Privacy: id` or `header`, RFC 3323) stays anonymous
//! even when the network asserts it: 非通知 means the caller asked not to be shown.
//!
//! What comes out is the number as written (separators and all) or `None`; the shell reads
//! it with the one phone-number rule like every other number.

/// The caller's number (or SIP user) as presented, or `None` when anonymous.
///
/// `from`: the `From` header's value; `asserted`: each `P-Asserted-Identity` value in
/// order; `privacy`: the `Privacy` header's value, if any.
pub fn caller_identity(from: &str, asserted: &[&str], privacy: Option<&str>) -> Option<String> {
    if let Some(id) = identity_of(from) {
        return Some(id);
    }
    let withheld = privacy.is_some_and(|p| {
        p.split(';')
            .map(|t| t.trim().to_ascii_lowercase())
            .any(|t| t == "id" || t == "header" || t == "user")
    });
    if withheld {
        return None;
    }
    asserted
        .iter()
        .flat_map(|v| split_values(v))
        .find_map(|v| identity_of(&v))
}

/// A header value may carry several comma-separated identities (outside quotes and `<>`).
fn split_values(v: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut angle) = (Vec::new(), String::new(), false, false);
    for c in v.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// The number or user of one name-addr / addr-spec, `None` for an anonymous one.
fn identity_of(value: &str) -> Option<String> {
    let value = value.trim();
    // The URI: inside <> when there are any (then parameters after `>` are the header's);
    // otherwise up to the header's parameters.
    let uri = match (value.find('<'), value.rfind('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or_default(),
    };
    let uri = uri.trim();
    let lower = uri.to_ascii_lowercase();
    let id = if lower.starts_with("tel:") {
        // A local number's `phone-context` is not put in front of it: the shell reads the
        // number in the tenant's region, where a national number is what it is.
        uri[4..]
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    } else if lower.starts_with("sip:") || lower.starts_with("sips:") {
        let rest = &uri[uri.find(':').map_or(0, |i| i + 1)..];
        let (user, _) = rest.split_once('@')?;
        // `;user=phone` parameters of the user part (`;cpc=ordinary`) are left for the
        // number rule's reader in the shell.
        percent_decode(user)
    } else {
        return None;
    };
    let anonymous = id.is_empty()
        || id.eq_ignore_ascii_case("anonymous")
        || id.eq_ignore_ascii_case("restricted")
        || id.eq_ignore_ascii_case("unavailable")
        || id.eq_ignore_ascii_case("unknown");
    (!anonymous).then_some(id)
}

/// `%2B81…` → `+81…` (RFC 3261 escapes in the user part).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::caller_identity as id;

    #[test]
    fn from_header_forms() {
        let cases = [
            (
                "<sip:+81355550101@192.0.2.1;user=phone>;tag=1",
                Some("+81355550101"),
            ),
            (
                "\"山田\" <sip:0355550101@carrier.example>;tag=x",
                Some("0355550101"),
            ),
            ("sip:0355550101@carrier.example;tag=x", Some("0355550101")),
            ("<tel:+81355550101>;tag=1", Some("+81355550101")),
            (
                "<tel:03-5555-0101;phone-context=+81>;tag=1",
                Some("03-5555-0101"),
            ),
            ("tel:+81-3-5555-0101;tag=1", Some("+81-3-5555-0101")),
            ("<sip:%2B81355550101@h>;tag=1", Some("+81355550101")),
            ("<sip:anonymous@anonymous.invalid>;tag=1", None),
            ("\"Anonymous\" <sip:Anonymous@h>;tag=1", None),
            ("<sip:h.example>;tag=1", None),
            ("<http://x>;tag=1", None),
            ("", None),
        ];
        for (from, want) in cases {
            assert_eq!(id(from, &[], None).as_deref(), want, "{from}");
        }
    }

    #[test]
    fn an_anonymous_from_takes_the_asserted_identity_unless_withheld() {
        let from = "<sip:anonymous@anonymous.invalid>;tag=1";
        assert_eq!(
            id(from, &["<tel:+81355550101>"], None).as_deref(),
            Some("+81355550101")
        );
        assert_eq!(
            id(from, &["<sip:+81355550101@192.0.2.1;user=phone>"], None).as_deref(),
            Some("+81355550101")
        );
        // Two identities in one header, or in two: the first usable one.
        assert_eq!(
            id(
                from,
                &["\"a, b\" <sip:anonymous@x>, <tel:+81355550101>"],
                None
            )
            .as_deref(),
            Some("+81355550101")
        );
        assert_eq!(
            id(from, &["<sip:anonymous@x>", "<tel:0355550101>"], None).as_deref(),
            Some("0355550101")
        );
        // 非通知: the caller asked not to be shown.
        for p in ["id", "header", "user; id", "ID"] {
            assert_eq!(id(from, &["<tel:+81355550101>"], Some(p)), None, "{p}");
        }
        assert_eq!(
            id(from, &["<tel:+81355550101>"], Some("none")).as_deref(),
            Some("+81355550101")
        );
        // A From that names the caller wins over an assertion.
        assert_eq!(
            id("<sip:0311112222@h>", &["<tel:+81355550101>"], None).as_deref(),
            Some("0311112222")
        );
    }
}
