//! Transcription: Whisper models installed from registry packages, offline transcription, and the
//! streaming pipeline that turns each call's audio into partial and final transcripts.
//!
//! Layers, bottom up: `ct2` / `ggml` / `convert` / `models` (getting a model onto disk, verified);
//! `audio` and `whisper` (decoding a buffer); `guard` (rejecting Whisper's known failure modes);
//! `cli` (the `koe models` and `koe transcribe` commands).

pub mod audio;
pub mod cli;
pub mod convert;
mod ct2;
pub mod engine;
pub mod ggml;
pub mod guard;
mod mel;
pub mod models;
pub mod policy;
mod service;
pub mod stream;
mod vocab;
pub mod wer;
pub mod whisper;

pub use service::AsrEngine;
