//! The one place koe talks to whisper.cpp (through whisper-rs): load a verified model, decode a buffer.
//!
//! `decode` applies the guards every caller needs: a fitted encoder context (`audio_ctx`) for short
//! buffers, a token cap, and a retry with the full 30 s context when the fitted one makes the decoder
//! loop; segments whisper itself judges to be no speech are dropped.

use super::ggml::{self, GgmlError, ModelInfo};
use std::path::Path;
use std::sync::Once;
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState};

#[derive(Debug, thiserror::Error)]
pub enum WhisperError {
    #[error(transparent)]
    Model(#[from] GgmlError),
    #[error("whisper.cpp could not load {0}")]
    Load(String),
    #[error("language {lang:?} needs a multilingual model; {model} is English-only")]
    EnglishOnly { lang: String, model: String },
    #[error("whisper.cpp failed: {0}")]
    Decode(String),
}

/// A loaded model; cheap to share, one `Decoder` per concurrent decode.
pub struct Model {
    ctx: WhisperContext,
    pub info: ModelInfo,
    pub name: String,
}

static QUIET: Once = Once::new();

impl Model {
    /// Verifies the file (whisper.cpp would crash on a damaged one) and loads it.
    pub fn load(path: &Path) -> Result<Model, WhisperError> {
        let info = ggml::verify_ggml(path)?;
        // whisper.cpp prints its load log to stderr; route it into nothing so the CLI output stays clean.
        QUIET.call_once(whisper_rs::install_logging_hooks);
        let ctx = WhisperContext::new_with_params(path, WhisperContextParameters::default())
            .map_err(|e| WhisperError::Load(format!("{}: {e}", path.display())))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().trim_start_matches("ggml-").to_string())
            .unwrap_or_default();
        Ok(Model { ctx, info, name })
    }

    pub fn decoder(&self) -> Result<Decoder, WhisperError> {
        let state = self
            .ctx
            .create_state()
            .map_err(|e| WhisperError::Decode(e.to_string()))?;
        Ok(Decoder {
            state,
            multilingual: self.info.multilingual(),
            model: self.name.clone(),
        })
    }
}

/// How to decode one buffer.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// ISO code (`en`, `ja`); fixed per call, never auto-detected on short chunks.
    pub language: String,
    pub threads: usize,
    /// Fit the encoder context to the audio length (much faster on short clips).
    pub fit_context: bool,
    /// The stricter settings for finals: temperature fallback and logprob / no-speech thresholds.
    pub strict: bool,
    /// One segment for the whole buffer (streaming); several with times (offline files).
    pub single_segment: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
    pub no_speech_prob: f32,
    /// Mean log-probability of the segment's text tokens.
    pub avg_logprob: f32,
}

/// What one decode produced, and whether it needed the full-context retry.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    pub segments: Vec<Segment>,
    pub retried: bool,
}

impl Decoded {
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self
            .segments
            .iter()
            .map(|s| s.text.trim())
            .filter(|t| !t.is_empty())
            .collect();
        parts.join(" ")
    }
}

/// One whisper.cpp state: owned by one worker thread at a time.
pub struct Decoder {
    state: WhisperState,
    multilingual: bool,
    model: String,
}

/// Encoder frames per second of audio (whisper's 1500 frames cover 30 s).
const FRAMES_PER_S: f64 = 50.0;
const FULL_CONTEXT: usize = 1500;
/// Speech runs at 2–4 tokens a second; more than this is a loop.
const TOKENS_PER_S: f64 = 8.0;

/// Smallest fitted context: below ~6 s of window, tiny.en looped on 3 of 7 phone-band clips of 1–2 s
/// (measured on the pocketsphinx and alsa recordings), against 1 of 7 with 300 frames.
const MIN_FITTED: usize = 300;

/// ASR.md: ≈ `len_s*50 + 64` frames, so the encoder sees the audio and a margin, not 30 s of padding.
pub fn fitted_audio_ctx(samples: usize) -> usize {
    let secs = samples as f64 / 16_000.0;
    ((secs * FRAMES_PER_S).ceil() as usize + 64).clamp(MIN_FITTED, FULL_CONTEXT)
}

impl Decoder {
    /// Decodes 16 kHz mono audio.
    pub fn decode(&mut self, pcm: &[f32], opts: &DecodeOptions) -> Result<Decoded, WhisperError> {
        if !self.multilingual && opts.language != "en" {
            return Err(WhisperError::EnglishOnly {
                lang: opts.language.clone(),
                model: self.model.clone(),
            });
        }
        let secs = pcm.len() as f64 / 16_000.0;
        let max_tokens = (secs * TOKENS_PER_S).ceil() as i32 + 16;
        let fitted = fitted_audio_ctx(pcm.len());
        if opts.fit_context && fitted < FULL_CONTEXT {
            // Widen the context step by step until the decoder stops looping; the full window last.
            let steps = [fitted, (fitted * 2).min(FULL_CONTEXT), FULL_CONTEXT];
            let mut retried = false;
            for (i, ctx) in steps.into_iter().enumerate() {
                let ctx = if ctx == FULL_CONTEXT { 0 } else { ctx as i32 };
                let mut decoded = self.run(pcm, opts, ctx, max_tokens)?;
                decoded.retried = retried;
                let text = decoded.text();
                let capped = text.split_whitespace().count() as f64 > secs * 5.0 + 8.0;
                let looping = capped || super::guard::is_repetitive(&text) || super::guard::is_doubled(&text);
                if !looping || i == steps.len() - 1 {
                    return Ok(decoded);
                }
                retried = true;
            }
        }
        self.run(pcm, opts, 0, if opts.single_segment { max_tokens } else { 0 })
    }

    fn run(
        &mut self,
        pcm: &[f32],
        opts: &DecodeOptions,
        audio_ctx: i32,
        max_tokens: i32,
    ) -> Result<Decoded, WhisperError> {
        let mut p = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        p.set_n_threads(opts.threads.max(1) as i32);
        p.set_language(Some(&opts.language));
        p.set_translate(false);
        p.set_no_context(true);
        p.set_single_segment(opts.single_segment);
        p.set_max_tokens(max_tokens);
        p.set_audio_ctx(audio_ctx);
        p.set_print_special(false);
        p.set_print_progress(false);
        p.set_print_realtime(false);
        p.set_print_timestamps(false);
        p.set_suppress_blank(true);
        p.set_suppress_nst(true);
        p.set_temperature(0.0);
        if opts.strict {
            p.set_temperature_inc(0.2);
            p.set_logprob_thold(-1.0);
            p.set_entropy_thold(2.4);
            p.set_no_speech_thold(0.6);
        } else {
            // Partials are superseded within a second: no fallback, keep them cheap.
            p.set_temperature_inc(0.0);
        }
        self.state
            .full(p, pcm)
            .map_err(|e| WhisperError::Decode(e.to_string()))?;
        let mut segments = Vec::new();
        for seg in self.state.as_iter() {
            let text = seg
                .to_str_lossy()
                .map_err(|e| WhisperError::Decode(e.to_string()))?
                .into_owned();
            let n = seg.n_tokens();
            let mut sum = 0.0f32;
            let mut count = 0;
            for i in 0..n {
                if let Some(tok) = seg.get_token(i) {
                    let data = tok.token_data();
                    // Text tokens come before the special ones in the vocabulary.
                    if data.id < 50_256 {
                        sum += data.plog;
                        count += 1;
                    }
                }
            }
            segments.push(Segment {
                start_ms: (seg.start_timestamp().max(0) as u64) * 10,
                end_ms: (seg.end_timestamp().max(0) as u64) * 10,
                text,
                no_speech_prob: seg.no_speech_probability(),
                avg_logprob: if count > 0 { sum / count as f32 } else { 0.0 },
            });
        }
        // OpenAI's rule: a segment that is probably silence and decoded with low confidence is dropped.
        segments.retain(|s| !(s.no_speech_prob > 0.6 && s.avg_logprob < -1.0));
        Ok(Decoded {
            segments,
            retried: false,
        })
    }
}
