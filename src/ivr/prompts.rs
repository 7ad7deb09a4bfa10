//! Prompt audio: uploaded WAV prompts (converted to 8 kHz mono on upload) and a flow version's prompts
//! rendered once, at publish, so that no caller waits for TTS.

use super::flow::{Flow, PromptSource};
use super::validate::Issue;
use crate::tts::Tts;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

/// Uploaded prompts, one 8 kHz mono 16-bit WAV per name under `data/prompts/`.
pub struct PromptLibrary {
    pub dir: PathBuf,
}

impl PromptLibrary {
    pub fn new(dir: PathBuf) -> Self {
        PromptLibrary { dir }
    }

    /// Names of the uploaded prompts.
    pub fn names(&self) -> BTreeSet<String> {
        todo!("tts helper")
    }

    /// Stores a WAV of any rate, channels and sample format as `name` (converted to 8 kHz mono).
    /// Names are `[A-Za-z0-9_-]{1,64}`.
    pub fn save(&self, name: &str, wav_bytes: &[u8]) -> anyhow::Result<()> {
        let _ = (name, wav_bytes);
        todo!("tts helper")
    }

    pub fn load(&self, name: &str) -> anyhow::Result<Arc<[i16]>> {
        let _ = name;
        todo!("tts helper")
    }
}

/// Every prompt of one flow version as 8 kHz samples, keyed by (source, language).
#[derive(Default)]
pub struct PromptSet {
    audio: HashMap<(PromptSource, String), Arc<[i16]>>,
}

impl PromptSet {
    /// Renders (TTS, from its disk cache when it can) or loads every prompt of the flow in every
    /// language it names. An issue per prompt that could not be made.
    pub fn render(flow: &Flow, tts: &Tts, library: &PromptLibrary) -> Result<PromptSet, Vec<Issue>> {
        let _ = (
            flow,
            tts,
            library,
            &mut HashMap::<(PromptSource, String), Arc<[i16]>>::new(),
        );
        todo!("tts helper")
    }

    pub fn get(&self, source: &PromptSource, language: &str) -> Option<Arc<[i16]>> {
        self.audio.get(&(source.clone(), language.to_string())).cloned()
    }
}
