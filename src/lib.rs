//! koe (声): a voice gateway for a customer-support line.
//!
//! Data flows one way: network (`sip`, `media`) → `call` → `events` → `store` and `web`.
//! The protocol and signal-processing cores are sans-IO state machines; sockets, clocks and files live
//! at the edges (`sip::endpoint`, `call`, `web`).
#![forbid(unsafe_code)]

pub mod asr;
pub mod assist;
pub mod call;
pub mod config;
pub mod events;
pub mod ivr;
pub mod live;
pub mod media;
pub mod metrics;
pub mod routing;
pub mod serve;
pub mod sip;
pub mod store;
pub mod tts;
pub mod web;
