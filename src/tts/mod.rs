//! Text to speech for prompts, behind a small engine interface (a child process per prompt today:
//! espeak-ng, pyopenjtalk or any command; a cloud engine can be another implementation), with a disk
//! cache keyed by voice and text.
//!
//! Rendering blocks (an engine may take a second or more): it belongs at publish time, on a blocking
//! thread, never on a call's media path.

mod cache;
mod command;
pub mod wav;

pub use command::CommandEngine;

use anyhow::{anyhow, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

/// Turns text into 8 kHz mono samples.
pub trait TtsEngine: Send + Sync {
    /// What identifies the voice in the cache key (command line, voice name, version).
    fn voice(&self) -> String;
    fn synthesize(&self, text: &str) -> anyhow::Result<Vec<i16>>;
}

/// The engines per language and the cache.
pub struct Tts {
    engines: BTreeMap<String, Arc<dyn TtsEngine>>,
    /// Languages configured with a voice that is not usable here, and why.
    unusable: BTreeMap<String, String>,
    cache: cache::Cache,
}

impl Tts {
    /// The voices of `[tts.voices]`, each probed once now (a few hundred milliseconds for Python); a voice
    /// whose engine is missing is logged and left out of [`Tts::languages`]. Rendered prompts are cached
    /// under `cache_dir` (created when first needed).
    pub fn from_config(config: &crate::config::TtsConfig, cache_dir: PathBuf) -> Tts {
        let mut engines: BTreeMap<String, Arc<dyn TtsEngine>> = BTreeMap::new();
        let mut unusable = BTreeMap::new();
        for (language, spec) in &config.voices {
            match CommandEngine::from_spec(spec) {
                Ok(engine) => {
                    tracing::debug!(language, voice = engine.voice(), "TTS voice ready");
                    engines.insert(language.clone(), Arc::new(engine));
                }
                Err(e) => {
                    let why = format!("{e:#}");
                    tracing::warn!(language, voice = spec, "no TTS voice for {language}: {why}");
                    unusable.insert(language.clone(), why);
                }
            }
        }
        Tts {
            engines,
            unusable,
            cache: cache::Cache::new(cache_dir),
        }
    }

    /// Languages with a voice.
    pub fn languages(&self) -> BTreeSet<String> {
        self.engines.keys().cloned().collect()
    }

    /// The prompt's audio, from the cache or freshly synthesized (and then cached). Blocks while the
    /// engine runs.
    pub fn render(&self, language: &str, text: &str) -> anyhow::Result<Arc<[i16]>> {
        let engine = self
            .engines
            .get(language)
            .ok_or_else(|| match self.unusable.get(language) {
                Some(why) => anyhow!("no TTS voice for {language}: {why}"),
                None => anyhow!("no TTS voice for {language}: [tts.voices] names none"),
            })?;
        // Surrounding whitespace is not spoken; trimming lets "Hello " share "Hello"'s cache entry.
        let text = text.trim();
        if text.is_empty() {
            bail!("the prompt text is empty");
        }
        let voice = engine.voice();
        if let Some(samples) = self.cache.get(&voice, text) {
            return Ok(samples.into());
        }
        let mut samples = engine.synthesize(text)?;
        if !trim_leading_silence(&mut samples) {
            bail!("TTS {voice}: the engine produced only silence");
        }
        if let Err(e) = self.cache.put(&voice, text, &samples) {
            // The audio is good; a full or read-only disk costs a re-render later, not this prompt.
            tracing::warn!("{e:#}");
        }
        Ok(samples.into())
    }
}

/// Below this (-40 dBFS) a sample counts as silence.
const SILENCE: i16 = 328;
/// Silence kept before the first sound, so the onset is not clipped.
const LEAD_IN: usize = 40 * wav::PHONE_RATE as usize / 1000;

/// Cuts the engine's lead-in silence down to 40 ms; false if there is no sound at all. pyopenjtalk
/// starts every sentence with 220–320 ms of silence (espeak-ng with ~10 ms): dead air that would delay
/// every answer to a key press. The trailing silence (~0.3 s from both) is kept: it is the natural pause
/// between two prompts played back to back.
fn trim_leading_silence(samples: &mut Vec<i16>) -> bool {
    let Some(first) = samples
        .iter()
        .position(|s| s.unsigned_abs() > SILENCE.unsigned_abs())
    else {
        return false;
    };
    samples.drain(..first.saturating_sub(LEAD_IN));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_in_silence_is_cut_to_40_ms_and_silence_alone_is_refused() {
        let mut x = vec![0i16; 3000];
        x.extend([5000, -5000, 4000]);
        x.extend(vec![0i16; 2400]);
        assert!(trim_leading_silence(&mut x));
        assert_eq!(x.len(), LEAD_IN + 3 + 2400);
        assert_eq!(x[LEAD_IN], 5000);

        let mut short = vec![0i16, 9000, 0];
        assert!(trim_leading_silence(&mut short));
        assert_eq!(short, vec![0, 9000, 0]);

        let mut quiet = vec![100i16; 8000];
        assert!(!trim_leading_silence(&mut quiet));
        assert!(!trim_leading_silence(&mut Vec::new()));
    }
}
