//! Embeds the prompt set (assets/prompts) into the binary, so a single executable speaks
//! without its source tree.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn wavs(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            wavs(&path, &format!("{prefix}{name}/"), out);
        } else if let Some(stem) = name.strip_suffix(".wav") {
            out.push((format!("{prefix}{stem}"), path));
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"))
        .join("../../assets/prompts");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut found = Vec::new();
    wavs(&root, "", &mut found);
    let mut code = String::from(
        "/// (\"lang/name\" or \"name\", WAV bytes)\npub static EMBEDDED: &[(&str, &[u8])] = &[\n",
    );
    for (key, path) in &found {
        let abs = path.canonicalize().expect("prompt path");
        writeln!(
            code,
            "    ({key:?}, include_bytes!({:?})),",
            abs.display().to_string()
        )
        .expect("write");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("out dir")).join("prompts.rs");
    std::fs::write(out, code).expect("write prompts.rs");
}
