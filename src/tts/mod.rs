//! Text to speech for prompts, behind a small engine interface (a command per language today; a cloud
//! engine can be another implementation), with a disk cache keyed by engine, voice and text.

use std::collections::BTreeSet;

/// Turns text into 8 kHz mono samples.
pub trait TtsEngine: Send + Sync {
    /// What identifies the voice in the cache key (command line, voice name, version).
    fn voice(&self) -> String;
    fn synthesize(&self, text: &str) -> anyhow::Result<Vec<i16>>;
}

/// The engines per language and the cache.
pub struct Tts {}

impl Tts {
    /// Languages with a voice.
    pub fn languages(&self) -> BTreeSet<String> {
        todo!("tts helper")
    }

    /// The prompt's audio, from the cache or freshly synthesized (and then cached).
    pub fn render(&self, language: &str, text: &str) -> anyhow::Result<std::sync::Arc<[i16]>> {
        let _ = (language, text);
        todo!("tts helper")
    }
}
