//! # tsunagu — the binary's library half
//!
//! * `config` — the TOML configuration file and environment overrides, validated with
//!   line and column numbers.
//! * `provision` — creating tenants, users and tokens (CLI and demo).
//! * `demo` — the ready-made demo center.
//!
//! `main.rs` holds the command line (clap) and nothing else.

pub mod config;
pub mod demo;
pub mod provision;
