//! The sans-IO media core: codecs, jitter buffer, DTMF, RTCP statistics, recording and prompts.
//! Nothing here owns a socket or reads a clock: packets, samples and time come in as arguments.

pub mod dtmf;
pub mod g711;
pub mod inband;
pub mod jitter;
pub mod latch;
pub mod prompt;
pub mod recorder;
pub mod rtcp;
pub mod sender;
