//! Prompt audio: uploaded WAV prompts (converted to 8 kHz mono on upload) and a flow version's prompts
//! rendered once, at publish, so that no caller waits for TTS.

use super::flow::{Flow, PromptSource};
use super::validate::Issue;
use crate::tts::{Tts, wav};
use anyhow::{anyhow, bail};
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

    /// Names of the uploaded prompts (none while the directory does not exist yet).
    pub fn names(&self) -> BTreeSet<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return BTreeSet::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".wav")?;
                check_name(stem).is_ok().then(|| stem.to_string())
            })
            .collect()
    }

    /// Stores a WAV of any rate, channels and sample format as `name` (converted to 8 kHz mono).
    /// Names are `[A-Za-z0-9_-]{1,64}`. Replaces a prompt of the same name atomically.
    pub fn save(&self, name: &str, wav_bytes: &[u8]) -> anyhow::Result<()> {
        check_name(name)?;
        let samples = wav::to_phone(wav_bytes).map_err(|e| anyhow!("prompt {name}: {e}"))?;
        if samples.is_empty() {
            bail!("prompt {name}: the WAV file holds no audio");
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| anyhow!("prompts {}: {e}", self.dir.display()))?;
        let path = self.path(name);
        wav::write_phone(&path, &samples).map_err(|e| anyhow!("prompt {}: {e}", path.display()))
    }

    pub fn load(&self, name: &str) -> anyhow::Result<Arc<[i16]>> {
        check_name(name)?;
        let path = self.path(name);
        if !path.exists() {
            bail!("no uploaded prompt named {name:?}");
        }
        Ok(wav::read_phone(&path)?.into())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.wav"))
    }
}

/// Names become file names: a closed alphabet keeps them from naming anything outside the directory.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        bail!("prompt name {name:?}: use 1 to 64 letters, digits, '_' or '-'");
    }
    Ok(())
}

/// Positions announced to a waiting caller; further back, the caller hears only the queue's prompt.
const MAX_POSITION: usize = 9;

/// What a caller at `position` in a queue hears, in the languages koe has a sentence for.
pub fn position_text(language: &str, position: usize) -> Option<String> {
    if !(1..=MAX_POSITION).contains(&position) {
        return None;
    }
    match language {
        "en" if position == 1 => Some("You are next in line.".into()),
        "en" => Some(format!("You are number {position} in line.")),
        "ja" if position == 1 => Some("次におつなぎします。".into()),
        "ja" => Some(format!("ただいま{position}番目にお待ちいただいています。")),
        _ => None,
    }
}

/// A prompt in one language.
type Key = (PromptSource, String);

/// Every prompt of one flow version as 8 kHz samples, keyed by (source, language).
#[derive(Default)]
pub struct PromptSet {
    audio: HashMap<Key, Arc<[i16]>>,
}

impl PromptSet {
    /// Renders (TTS, from its disk cache when it can) or loads every prompt of the flow in every
    /// language it names. An issue per prompt that could not be made, with the prompt's path
    /// (`nodes.<node>.<slot>.<language>`).
    ///
    /// Runs at publish time and blocks: each text not in the TTS cache runs the engine (espeak-ng takes
    /// milliseconds, pyopenjtalk about half a second), so a new flow can take seconds. Each distinct
    /// (text, language) is rendered once, however many nodes say it.
    pub fn render(flow: &Flow, tts: &Tts, library: &PromptLibrary) -> Result<PromptSet, Vec<Issue>> {
        let mut made: HashMap<Key, Result<Arc<[i16]>, String>> = HashMap::new();
        let mut issues = Vec::new();
        for (node_id, node) in &flow.nodes {
            for (slot, prompt) in node.prompts() {
                for (language, source) in prompt {
                    let key = (source.clone(), language.clone());
                    let result = made.entry(key).or_insert_with(|| {
                        match source {
                            PromptSource::Text(text) => tts.render(language, text),
                            PromptSource::Wav { wav } => library.load(wav),
                        }
                        .map_err(|e| format!("{e:#}"))
                    });
                    if let Err(message) = result {
                        issues.push(Issue {
                            node: Some(node_id.clone()),
                            path: format!("nodes.{node_id}.{slot}.{language}"),
                            message: message.clone(),
                        });
                    }
                }
            }
        }
        // Queue positions are said by the engine, not written in the flow: rendered with the flow's
        // voices so that a waiting caller hears them without a TTS run on the call's path.
        let queues = flow
            .nodes
            .values()
            .any(|n| matches!(n, crate::ivr::flow::Node::Queue { .. }));
        for language in flow.languages.iter().filter(|_| queues) {
            for n in 1..=MAX_POSITION {
                let Some(text) = position_text(language, n) else {
                    break;
                };
                let key = (PromptSource::Text(text.clone()), language.clone());
                let result = made
                    .entry(key)
                    .or_insert_with(|| tts.render(language, &text).map_err(|e| format!("{e:#}")));
                if let Err(message) = result {
                    issues.push(Issue {
                        node: None,
                        path: format!("queue position {n}.{language}"),
                        message: message.clone(),
                    });
                }
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        let audio = made
            .into_iter()
            .filter_map(|(key, result)| Some((key, result.ok()?)))
            .collect();
        Ok(PromptSet { audio })
    }

    pub fn get(&self, source: &PromptSource, language: &str) -> Option<Arc<[i16]>> {
        self.audio.get(&(source.clone(), language.to_string())).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_outside_the_alphabet_are_refused() {
        for bad in ["", "a b", "../etc/passwd", "x.wav", "é", &"a".repeat(65)] {
            let err = check_name(bad).expect_err(bad).to_string();
            assert!(err.contains("1 to 64 letters"), "{bad:?}: {err}");
        }
        for good in ["welcome", "Menu_2-ja", &"a".repeat(64)] {
            check_name(good).expect(good);
        }
    }
}
