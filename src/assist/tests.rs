//! The assistant as the call's task drives it: transcript events in, outputs out.
