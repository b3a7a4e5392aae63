//! Real peers for the voice tests: the `tsunagu demo` binary with SIP, baresip as agents'
//! phones (registered with digest auth, answering by themselves, recording what they
//! hear), sipp as customers (RFC 4733 digits and recorded speech from pcaps), and WAV
//! analysis to tell who heard whom.

#![allow(dead_code)]

pub mod baresip;
pub mod demo;
pub mod raw;
pub mod sipp;
pub mod ua;

// Each test binary uses some of the peers only.
#[allow(unused_imports)]
pub use baresip::*;
#[allow(unused_imports)]
pub use demo::*;
#[allow(unused_imports)]
pub use sipp::*;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Client, ADMIN_PW, SV_PW};

pub const PHONE_PW: &str = tsunagu::demo::PHONE_PASSWORD;
