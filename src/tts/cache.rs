//! The rendered prompts on disk: one 8 kHz mono WAV per (voice, text), named by the SHA-256 of both, so
//! a restart or another flow version with the same sentence does not run the engine again.

use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Bumped when what is stored for a (voice, text) changes (the post-processing in `Tts::render`), so
/// that older entries are not served.
const FORMAT: &str = "koe-tts-1";

pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    /// Where the audio of `text` in `voice` lives.
    pub fn path(&self, voice: &str, text: &str) -> PathBuf {
        let mut h = Sha256::new();
        // Length-prefixed, so no (voice, text) pair can collide with another by moving a boundary.
        for part in [FORMAT, voice, text] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.wav"))
    }

    /// The cached audio, if there is a readable entry. A damaged entry is logged and treated as missing,
    /// so that it is rendered again and replaced.
    pub fn get(&self, voice: &str, text: &str) -> Option<Vec<i16>> {
        let path = self.path(voice, text);
        if !path.exists() {
            return None;
        }
        match super::wav::read_phone(&path) {
            Ok(samples) if !samples.is_empty() => Some(samples),
            Ok(_) => {
                tracing::warn!(path = %path.display(), "TTS cache entry is empty; rendering again");
                None
            }
            Err(e) => {
                tracing::warn!("TTS cache entry unreadable, rendering again: {e:#}");
                None
            }
        }
    }

    pub fn put(&self, voice: &str, text: &str, samples: &[i16]) -> anyhow::Result<()> {
        let path = self.path(voice, text);
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| anyhow::anyhow!("TTS cache {}: {e}", self.dir.display()))?;
        super::wav::write_phone(&path, samples)
            .map_err(|e| anyhow::anyhow!("TTS cache {}: {e}", path.display()))
    }
}
