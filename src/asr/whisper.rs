//! The one place koe talks to whisper.cpp (through whisper-rs): load a verified model, decode a buffer.
//!
//! `decode` applies the guards every caller needs: a fitted encoder context (`audio_ctx`) for short
//! buffers, a token cap proportional to the audio, and, when the fitted context makes the decoder loop,
//! one retry with twice the context (finals) and then the loop cut off; segments whisper itself judges
//! to be no speech are dropped. A decode can be aborted from another thread (`Decoder::abort_handle`).

use super::ggml::{self, GgmlError, ModelInfo};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
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
    #[error("whisper has no language {0:?}")]
    UnknownLanguage(String),
    #[error("decode aborted")]
    Aborted,
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
            params: HashMap::new(),
            abort: Arc::new(AtomicBool::new(false)),
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
    /// The stricter settings for finals: a retry with twice the context when a fitted one loops,
    /// OpenAI's temperature fallback on the full window, and the no-speech threshold.
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

/// What one decode produced, and how hard it was to get.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    pub segments: Vec<Segment>,
    /// The fitted context looped and the decode was run again with a wider one.
    pub retried: bool,
    /// Every context tried looped; the text is cut where the loop starts.
    pub trimmed: bool,
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
    /// Parameters per language with the abort callback installed, cloned for each decode: whisper-rs
    /// leaks the closure of `set_abort_callback_safe` and the string of `set_language` on every call,
    /// so they are set once per decoder and language.
    params: HashMap<String, FullParams<'static, 'static>>,
    abort: Arc<AtomicBool>,
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
    /// Set to make the decode in progress stop at its next check (after the encoder, after each
    /// token) with `WhisperError::Aborted`; the owner clears it before the next decode.
    pub fn abort_handle(&self) -> Arc<AtomicBool> {
        self.abort.clone()
    }

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
        if !opts.fit_context || fitted >= FULL_CONTEXT {
            return self.run(pcm, opts, 0, if opts.single_segment { max_tokens } else { 0 });
        }
        // Finals get one retry with twice the context (the full window costs ~1.7 s on one thread);
        // partials none, as the next one supersedes them within a second.
        let widest = if opts.strict { 2 * fitted } else { fitted };
        let mut ctx = fitted;
        let mut retried = false;
        loop {
            let wide = ctx.min(FULL_CONTEXT);
            let audio_ctx = if wide == FULL_CONTEXT { 0 } else { wide as i32 };
            let mut decoded = self.run(pcm, opts, audio_ctx, max_tokens)?;
            decoded.retried = retried;
            let text = decoded.text();
            let capped = text.split_whitespace().count() as f64 > secs * 5.0 + 8.0;
            let looping = capped || super::guard::is_repetitive(&text) || super::guard::is_doubled(&text);
            if !looping {
                return Ok(decoded);
            }
            if ctx >= widest || wide == FULL_CONTEXT {
                return Ok(decoded.cut_loop());
            }
            ctx *= 2;
            retried = true;
        }
    }

    /// The parameters for `language`, built on first use.
    fn base_params(&mut self, language: &str) -> Result<FullParams<'static, 'static>, WhisperError> {
        if let Some(p) = self.params.get(language) {
            return Ok(p.clone());
        }
        // whisper.cpp's own copy of the code, which lives as long as the program.
        let code = whisper_rs::get_lang_id(language)
            .and_then(whisper_rs::get_lang_str)
            .ok_or_else(|| WhisperError::UnknownLanguage(language.to_string()))?;
        let mut p = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        p.set_language(Some(code));
        set_abort(&mut p, || {
            DECODING.with(|flag| flag.borrow().as_ref().is_some_and(|f| f.load(Ordering::Relaxed)))
        });
        self.params.insert(language.to_string(), p.clone());
        Ok(p)
    }

    fn run(
        &mut self,
        pcm: &[f32],
        opts: &DecodeOptions,
        audio_ctx: i32,
        max_tokens: i32,
    ) -> Result<Decoded, WhisperError> {
        let mut p = self.base_params(&opts.language)?;
        p.set_n_threads(opts.threads.max(1) as i32);
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
        if opts.strict && audio_ctx == 0 {
            // The full window (offline files): OpenAI's temperature fallback when the text is too
            // repetitive or its mean log-probability is low.
            p.set_temperature_inc(0.2);
            p.set_logprob_thold(-1.0);
            p.set_entropy_thold(2.4);
        } else {
            // A fitted context falls back to a wider context instead (`decode`): sampling at higher
            // temperatures made things worse there. On phone-band speech a right text often scores
            // below −1 or ends without a timestamp token, which whisper.cpp counts as a failure, and
            // the five sampled retries then cost up to 2 s and gave "7 of clubs," or a loop for
            // "seven of clubs" (pocketsphinx cards over the SIP path). Partials never fall back.
            p.set_temperature_inc(0.0);
        }
        if opts.strict {
            p.set_no_speech_thold(0.6);
        }
        DECODING.with(|flag| *flag.borrow_mut() = Some(self.abort.clone()));
        let result = self.state.full(p, pcm);
        DECODING.with(|flag| *flag.borrow_mut() = None);
        if let Err(e) = result {
            return Err(if self.abort.load(Ordering::Relaxed) {
                WhisperError::Aborted
            } else {
                WhisperError::Decode(e.to_string())
            });
        }
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
            ..Decoded::default()
        })
    }
}

thread_local! {
    /// The abort flag of the decoder running on this thread, read by whisper.cpp's abort callback.
    static DECODING: std::cell::RefCell<Option<Arc<AtomicBool>>> = const { std::cell::RefCell::new(None) };
}

/// Installs the abort callback. It must capture nothing: whisper-rs 0.16's trampoline casts its user
/// data (a boxed trait object) to the closure's own type, which is only sound for a zero-sized closure
/// (one with captures reads garbage and never aborts). So the flag comes from `DECODING`.
fn set_abort<F: FnMut() -> bool + 'static>(p: &mut FullParams, abort: F) {
    const {
        assert!(
            std::mem::size_of::<F>() == 0,
            "the abort callback must capture nothing"
        )
    };
    p.set_abort_callback_safe::<Option<F>, F>(Some(abort));
}

impl Decoded {
    /// One segment holding the text up to where it starts to loop (unchanged if it does not loop).
    fn cut_loop(mut self) -> Decoded {
        let text = self.text();
        if let Some(cut) = super::guard::cut_loop(&text)
            && let Some(first) = self.segments.first().cloned()
        {
            let end_ms = self.segments.last().map_or(first.end_ms, |s| s.end_ms);
            self.segments = vec![Segment {
                end_ms,
                text: cut,
                ..first
            }];
            self.trimmed = true;
        }
        self
    }
}
