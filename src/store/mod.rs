//! Storage of call records and transcripts (SQLite by default, through sqlx).
mod record;
pub use record::*;
