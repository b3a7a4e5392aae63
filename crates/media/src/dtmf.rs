//! DTMF as RFC 4733 telephone events: parse the 4-byte event payload, report each key press
//! once (senders repeat the event and its end packet), and build events to send.

/// The digit for an event code (0-9, *, #, A-D).
pub fn event_digit(code: u8) -> Option<char> {
    match code {
        0..=9 => Some((b'0' + code) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + code - 12) as char),
        _ => None,
    }
}

pub fn digit_event(d: char) -> Option<u8> {
    match d {
        '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(d as u8 - b'A' + 12),
        'a'..='d' => Some(d as u8 - b'a' + 12),
        _ => None,
    }
}

/// A parsed telephone-event payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub code: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

pub fn parse(payload: &[u8]) -> Option<Event> {
    if payload.len() < 4 {
        return None;
    }
    Some(Event {
        code: payload[0],
        end: payload[1] & 0x80 != 0,
        volume: payload[1] & 0x3F,
        duration: u16::from_be_bytes([payload[2], payload[3]]),
    })
}

pub fn build(e: &Event) -> [u8; 4] {
    let d = e.duration.to_be_bytes();
    [
        e.code,
        if e.end { 0x80 } else { 0 } | (e.volume & 0x3F),
        d[0],
        d[1],
    ]
}

/// Reports each key press once. An event is identified by its RTP timestamp (all packets of
/// one press share it); the digit is reported on the first packet seen, so a lost end packet
/// does not lose the digit.
#[derive(Debug, Default, Clone)]
pub struct Detector {
    last_timestamp: Option<u32>,
}

impl Detector {
    pub fn feed(&mut self, rtp_timestamp: u32, payload: &[u8]) -> Option<char> {
        let e = parse(payload)?;
        let digit = event_digit(e.code)?;
        if self.last_timestamp == Some(rtp_timestamp) {
            return None;
        }
        self.last_timestamp = Some(rtp_timestamp);
        Some(digit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_map_both_ways() {
        for d in "0123456789*#ABCD".chars() {
            assert_eq!(event_digit(digit_event(d).unwrap()), Some(d));
        }
        assert_eq!(event_digit(16), None);
    }

    #[test]
    fn one_digit_per_press_despite_repeats() {
        let mut det = Detector::default();
        let press = |end, dur| {
            build(&Event {
                code: 1,
                end,
                volume: 10,
                duration: dur,
            })
        };
        assert_eq!(det.feed(1000, &press(false, 160)), Some('1'));
        assert_eq!(det.feed(1000, &press(false, 320)), None);
        assert_eq!(det.feed(1000, &press(true, 480)), None);
        assert_eq!(det.feed(1000, &press(true, 480)), None);
        assert_eq!(
            det.feed(2000, &press(true, 480)),
            Some('1'),
            "a second press of the same key"
        );
        assert_eq!(det.feed(3000, &[1, 2]), None, "short payload");
    }
}
