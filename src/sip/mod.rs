//! SIP signalling: message parsing, SDP offer/answer, the sans-IO user-agent core (UAS, UAC, registrar
//! with digest authentication) and its transports.
pub mod core;
pub mod digest;
pub mod endpoint;
pub mod message;
pub mod registrar;
pub mod sdp;
