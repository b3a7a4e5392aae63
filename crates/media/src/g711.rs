//! G.711 µ-law (PCMU) and A-law (PCMA): 8-bit companded samples ↔ 16-bit linear PCM.
//!
//! Decoding is a table lookup; encoding follows ITU-T G.711 (segment search with bias for
//! µ-law). Both are cheap enough to run per packet for recording and mixing.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;

pub fn ulaw_encode(pcm: i16) -> u8 {
    let mut s = i32::from(pcm);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

pub fn ulaw_decode(u: u8) -> i16 {
    ULAW_TABLE[u as usize]
}

pub fn alaw_encode(pcm: i16) -> u8 {
    let mut s = i32::from(pcm);
    let sign = if s >= 0 { 0x80 } else { 0 };
    if s < 0 {
        s = -s - 1;
    }
    s = s.min(32767);
    let byte = if s < 256 {
        (s >> 4) as u8
    } else {
        let mut exponent = 7u8;
        while exponent > 1 && s & (1 << (exponent + 7)) == 0 {
            exponent -= 1;
        }
        let mantissa = ((s >> (exponent + 3)) & 0x0F) as u8;
        (exponent << 4) | mantissa
    };
    (byte | sign) ^ 0x55
}

pub fn alaw_decode(a: u8) -> i16 {
    ALAW_TABLE[a as usize]
}

const fn ulaw_decode_slow(u: u8) -> i16 {
    let u = !u;
    let sign = u & 0x80;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_decode_slow(a: u8) -> i16 {
    let a = a ^ 0x55;
    let sign = a & 0x80;
    let exponent = ((a >> 4) & 0x07) as i32;
    let mantissa = (a & 0x0F) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if sign != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

static ULAW_TABLE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_decode_slow(i as u8);
        i += 1;
    }
    t
};

static ALAW_TABLE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode_slow(i as u8);
        i += 1;
    }
    t
};

/// The two G.711 laws, as negotiated in SDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Law {
    /// PCMU, RTP payload type 0.
    Ulaw,
    /// PCMA, RTP payload type 8.
    Alaw,
}

impl Law {
    pub const fn payload_type(self) -> u8 {
        match self {
            Law::Ulaw => 0,
            Law::Alaw => 8,
        }
    }

    /// The law a static RTP payload type stands for (0: PCMU, 8: PCMA), if any.
    pub const fn from_payload_type(pt: u8) -> Option<Law> {
        match pt {
            0 => Some(Law::Ulaw),
            8 => Some(Law::Alaw),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Law::Ulaw => "PCMU",
            Law::Alaw => "PCMA",
        }
    }

    pub fn encode(self, pcm: i16) -> u8 {
        match self {
            Law::Ulaw => ulaw_encode(pcm),
            Law::Alaw => alaw_encode(pcm),
        }
    }

    pub fn decode(self, b: u8) -> i16 {
        match self {
            Law::Ulaw => ulaw_decode(b),
            Law::Alaw => alaw_decode(b),
        }
    }

    pub fn encode_into(self, pcm: &[i16], out: &mut Vec<u8>) {
        out.extend(pcm.iter().map(|&s| self.encode(s)));
    }

    pub fn decode_into(self, bytes: &[u8], out: &mut Vec<i16>) {
        out.extend(bytes.iter().map(|&b| self.decode(b)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_within_quantization_error() {
        for law in [Law::Ulaw, Law::Alaw] {
            for s in (-32768i32..32768).step_by(7) {
                let s = s as i16;
                let back = law.decode(law.encode(s));
                let err = (i32::from(back) - i32::from(s)).abs();
                // Companding error grows with amplitude: at most ~1/16 of the value, plus a
                // small floor near zero.
                assert!(
                    err <= (i32::from(s).abs() / 16).max(16) + 8,
                    "{law:?} {s} -> {back}"
                );
            }
            for b in 0..=255u8 {
                if law == Law::Ulaw && b == 0x7F {
                    continue; // µ-law has two zeros; 0 encodes as 0xFF
                }
                assert_eq!(law.encode(law.decode(b)), b, "{law:?} {b} is a fixed point");
            }
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert!(ulaw_decode(0x00) < -32000);
        assert!(alaw_decode(0xAA) > 32000);
    }
}
