//! SIP signalling: message parsing, SDP offer/answer, the sans-IO UAS core and its transports.
pub mod core;
pub mod endpoint;
pub mod message;
pub mod sdp;
