//! Prompts: audio files loaded once into 8 kHz 16-bit PCM, shared by every call that plays
//! them. Accepts WAV in 16-bit PCM, µ-law or A-law; 8 kHz mono is the norm, other rates
//! are resampled (linearly) and stereo is mixed down.

use std::sync::Arc;

use thiserror::Error;

use crate::g711::Law;

#[derive(Debug, Error)]
pub enum PromptError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("{path}: unsupported format ({format})")]
    Format { path: String, format: String },
}

/// Audio ready to play: 8 kHz mono samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub name: String,
    pub samples: Vec<i16>,
}

impl Prompt {
    pub fn from_samples(name: impl Into<String>, samples: Vec<i16>) -> Arc<Prompt> {
        Arc::new(Prompt {
            name: name.into(),
            samples,
        })
    }

    /// A tone (for tests and ringback): `ms` of `freq` Hz at `amplitude`.
    pub fn tone(name: &str, freq: f64, ms: u32, amplitude: f64) -> Arc<Prompt> {
        let n = (ms * 8) as usize;
        let samples = (0..n)
            .map(|i| {
                (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16
            })
            .collect();
        Prompt::from_samples(name, samples)
    }

    /// Reads a WAV file's bytes (the caller reads the file: this crate touches no files
    /// outside its engine). `name` names the prompt and its errors.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Arc<Prompt>, PromptError> {
        // hound reads PCM and float; G.711 WAVs (format tags 7 and 6) are read here.
        if let Some(samples) = g711_wav(bytes) {
            return Ok(Prompt::from_samples(name, samples?));
        }
        let reader =
            hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| PromptError::Read {
                path: name.into(),
                message: e.to_string(),
            })?;
        let spec = reader.spec();
        let fmt = |m: &str| PromptError::Format {
            path: name.into(),
            format: m.into(),
        };
        // A header claiming 0 Hz would divide by zero when resampling.
        if spec.sample_rate == 0 {
            return Err(fmt("a sample rate of 0 Hz"));
        }
        let raw: Vec<i16> = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Int, 16) => reader
                .into_samples::<i16>()
                .collect::<Result<_, _>>()
                .map_err(|e| fmt(&e.to_string()))?,
            (hound::SampleFormat::Int, 8) => reader
                .into_samples::<i8>()
                .map(|s| s.map(|v| i16::from(v) << 8))
                .collect::<Result<_, _>>()
                .map_err(|e| fmt(&e.to_string()))?,
            (hound::SampleFormat::Float, 32) => reader
                .into_samples::<f32>()
                .map(|s| s.map(|v| (v.clamp(-1.0, 1.0) * 32767.0) as i16))
                .collect::<Result<_, _>>()
                .map_err(|e| fmt(&e.to_string()))?,
            (f, b) => return Err(fmt(&format!("{f:?} {b}-bit"))),
        };
        let mono = downmix(&raw, spec.channels);
        Ok(Prompt::from_samples(
            name,
            resample_to_8k(&mono, spec.sample_rate),
        ))
    }
}

fn downmix(samples: &[i16], channels: u16) -> Vec<i16> {
    if channels <= 1 {
        return samples.to_vec();
    }
    samples
        .chunks(usize::from(channels))
        .map(|c| (c.iter().map(|&s| i32::from(s)).sum::<i32>() / i32::from(channels)) as i16)
        .collect()
}

fn resample_to_8k(samples: &[i16], rate: u32) -> Vec<i16> {
    if rate == 8000 || samples.is_empty() {
        return samples.to_vec();
    }
    let n = (samples.len() as u64 * 8000 / u64::from(rate)) as usize;
    (0..n)
        .map(|i| {
            let pos = i as f64 * f64::from(rate) / 8000.0;
            let j = pos as usize;
            let frac = pos - j as f64;
            let a = f64::from(samples[j.min(samples.len() - 1)]);
            let b = f64::from(samples[(j + 1).min(samples.len() - 1)]);
            (a + (b - a) * frac) as i16
        })
        .collect()
}

/// Reads a WAV whose format tag is µ-law (7) or A-law (6): None if it is another format.
fn g711_wav(bytes: &[u8]) -> Option<Result<Vec<i16>, PromptError>> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut i = 12;
    let mut law = None;
    let mut channels = 1u16;
    let mut rate = 8000u32;
    while i + 8 <= bytes.len() {
        let id = &bytes[i..i + 4];
        let len =
            u32::from_le_bytes([bytes[i + 4], bytes[i + 5], bytes[i + 6], bytes[i + 7]]) as usize;
        let body = &bytes[i + 8..(i + 8 + len).min(bytes.len())];
        if id == b"fmt " && body.len() >= 16 {
            let tag = u16::from_le_bytes([body[0], body[1]]);
            channels = u16::from_le_bytes([body[2], body[3]]);
            rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
            law = match tag {
                7 => Some(Law::Ulaw),
                6 => Some(Law::Alaw),
                _ => return None,
            };
        } else if id == b"data" {
            let law = law?;
            let mut pcm = Vec::with_capacity(body.len());
            law.decode_into(body, &mut pcm);
            return Some(Ok(resample_to_8k(&downmix(&pcm, channels), rate)));
        }
        i += 8 + len + (len & 1);
    }
    None
}

/// Writes 8 kHz mono µ-law WAV bytes (for generated prompts and tests).
pub fn ulaw_wav(samples: &[i16]) -> Vec<u8> {
    let data_len = samples.len() as u32;
    let mut out = Vec::with_capacity(58 + samples.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(50 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&7u16.to_le_bytes()); // µ-law
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(b"fact");
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    Law::Ulaw.encode_into(samples, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ulaw_and_pcm_wavs() {
        let tone = Prompt::tone("t", 440.0, 100, 8000.0);
        let ulaw = Prompt::parse("u", &ulaw_wav(&tone.samples)).unwrap();
        assert_eq!(ulaw.samples.len(), 800);
        let mut pcm = Vec::new();
        {
            let spec = hound::WavSpec {
                channels: 2,
                sample_rate: 16000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let mut w = hound::WavWriter::new(std::io::Cursor::new(&mut pcm), spec).unwrap();
            for s in 0..3200 {
                w.write_sample((s % 100) as i16).unwrap();
                w.write_sample((s % 100) as i16).unwrap();
            }
            w.finalize().unwrap();
        }
        let p = Prompt::parse("p", &pcm).unwrap();
        assert_eq!(p.samples.len(), 1600, "16 kHz stereo → 8 kHz mono");
        assert!(Prompt::parse("x", b"not a wav").is_err());

        // Regression: a header claiming 0 Hz is refused, not a division by zero.
        let mut zero = pcm.clone();
        zero[24..28].copy_from_slice(&0u32.to_le_bytes());
        match Prompt::parse("z", &zero) {
            Err(PromptError::Format { format, .. }) => assert!(format.contains("0 Hz")),
            Err(PromptError::Read { .. }) => {} // also fine: refused before resampling
            Ok(_) => panic!("a 0 Hz prompt was accepted"),
        }
    }
}
