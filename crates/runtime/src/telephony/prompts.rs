//! The prompt store: the embedded demo set, overridden or extended by a directory of WAV
//! files (`<dir>/<language>/<name>.wav`, or `<dir>/<name>.wav` for every language).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use thiserror::Error;
use tracing::warn;
use tsunagu_media::prompt::{Prompt, PromptError};

/// A prompt the store could not load.
#[derive(Debug, Error)]
pub enum PromptsError {
    #[error("embedded prompt {key}: {source}")]
    Embedded { key: String, source: PromptError },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Wav { path: String, source: PromptError },
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/prompts.rs"));
}

pub struct PromptStore {
    /// By "lang/name", or "name" for language-independent prompts (music, tones).
    prompts: HashMap<String, Arc<Prompt>>,
    /// Sequences already joined (announcements are a few prompts played back to back).
    joined: Mutex<HashMap<String, Arc<Prompt>>>,
}

impl PromptStore {
    /// The embedded set plus the WAV files under `dir`. A file that cannot be read is an
    /// error naming it.
    pub fn load(dir: Option<&Path>) -> Result<PromptStore, PromptsError> {
        let mut prompts = HashMap::new();
        for (key, bytes) in embedded::EMBEDDED {
            let p = Prompt::parse(key, bytes).map_err(|source| PromptsError::Embedded {
                key: (*key).to_string(),
                source,
            })?;
            prompts.insert((*key).to_string(), p);
        }
        if let Some(dir) = dir {
            load_dir(dir, "", &mut prompts)?;
        }
        Ok(PromptStore {
            prompts,
            joined: Mutex::new(HashMap::new()),
        })
    }

    pub fn get(&self, lang: &str, name: &str) -> Option<Arc<Prompt>> {
        self.prompts
            .get(&format!("{lang}/{name}"))
            .or_else(|| self.prompts.get(name))
            .cloned()
    }

    pub fn exists(&self, lang: &str, name: &str) -> bool {
        self.get(lang, name).is_some()
    }

    /// The prompts played one after another, as one prompt. Missing ones are skipped
    /// (flows are checked at load, so this only happens if files vanished since).
    pub fn sequence(&self, parts: &[(String, String)]) -> Arc<Prompt> {
        if let [(lang, name)] = parts {
            if let Some(p) = self.get(lang, name) {
                return p;
            }
        }
        let key = parts
            .iter()
            .map(|(l, n)| format!("{l}/{n}"))
            .collect::<Vec<_>>()
            .join("+");
        if let Some(p) = self.joined.lock().expect("prompt cache").get(&key) {
            return p.clone();
        }
        let mut samples = Vec::new();
        for (lang, name) in parts {
            match self.get(lang, name) {
                Some(p) => samples.extend_from_slice(&p.samples),
                None => warn!(lang, name, "prompt missing"),
            }
        }
        let p = Prompt::from_samples(key.clone(), samples);
        let mut cache = self.joined.lock().expect("prompt cache");
        // Announcements combine few prompts; keep the cache from growing without bound.
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(key, p.clone());
        p
    }
}

fn load_dir(
    dir: &Path,
    prefix: &str,
    out: &mut HashMap<String, Arc<Prompt>>,
) -> Result<(), PromptsError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PromptsError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if path.is_dir() && prefix.is_empty() {
            load_dir(&path, &format!("{name}/"), out)?;
        } else if let Some(stem) = name.strip_suffix(".wav") {
            out.insert(format!("{prefix}{stem}"), read_wav(&path, stem)?);
        }
    }
    Ok(())
}

/// One WAV file as the prompt `name`.
fn read_wav(path: &Path, name: &str) -> Result<Arc<Prompt>, PromptsError> {
    let shown = || path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| PromptsError::Io {
        path: shown(),
        source,
    })?;
    Prompt::parse(name, &bytes).map_err(|source| PromptsError::Wav {
        path: shown(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_set_speaks_both_languages() {
        let s = PromptStore::load(None).unwrap();
        assert!(s.exists("ja", "welcome") && s.exists("en", "welcome"));
        assert!(s.exists("ja", "moh"), "music is shared by every language");
        assert!(!s.exists("ja", "nope"));
        let one = s.get("ja", "position_3").unwrap().samples.len();
        let two = s.get("ja", "wait_2").unwrap().samples.len();
        let seq = s.sequence(&[
            ("ja".into(), "position_3".into()),
            ("ja".into(), "wait_2".into()),
        ]);
        assert_eq!(seq.samples.len(), one + two);
    }
}
