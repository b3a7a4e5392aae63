//! # tsunagu-media — the media engine
//!
//! Tsunagu's own RTP media: what callers hear and what they say.
//!
//! * `g711` — PCMU/PCMA coding; `rtp`, `rtcp` — packets and reports; `reception` — what a
//!   leg received, counted (loss, duplicates, reordering, audio jitter); `peer` — who may
//!   send a leg media (the SDP's address, or a peer behind NAT latched once); `dtmf` — RFC 4733
//!   events; `sdp` — offer/answer for one audio stream; `prompt` — WAV files as 8 kHz PCM.
//! * `core` — [`core::MediaCore`], the sans-IO engine: legs, sources (silence, prompt,
//!   relay, mix), latching, DTMF, recording, RTCP, timeouts. Packets and ticks in, packets
//!   and events out.
//! * `engine` — the IO shell: a thread with mio that owns the sockets and the core, and a
//!   writer thread for recordings.
//!
//! ## Drive contract (the core)
//!
//! Commands (`add_leg`, `update_leg`, `set_source`, recordings…) and inputs
//! ([`MediaCore::handle_rtp`], [`MediaCore::handle_rtcp`], [`MediaCore::handle_tick`] every
//! 20 ms of the caller's clock) take the current time in ms. After each, drain
//! [`MediaCore::poll_transmit`] (datagrams to send), [`MediaCore::poll_event`] (keys,
//! prompts done, timeouts), [`MediaCore::poll_record`] (audio for recordings) and
//! [`MediaCore::poll_notice`] (strangers' packets dropped, to log) until each is `None`.

pub mod core;
pub mod dtmf;
#[cfg(feature = "engine")]
pub mod engine;
pub mod g711;
mod out_stream;
pub mod peer;
pub mod prompt;
pub mod reception;
pub mod rtcp;
pub mod rtp;
pub mod sdp;

pub use crate::core::{LegId, LegParams, MediaCore, MediaEvent, RecordingId, Source};
#[cfg(feature = "engine")]
pub use engine::{EngineConfig, EngineEvent, MediaEngine, MediaHandle};
pub use g711::Law;
pub use prompt::Prompt;
