//! Storage of call records, final transcripts, IVR flow versions, accounts and sessions.
//!
//! [`Store`] is the whole interface the rest of koe sees: plain records in, plain records out, with no
//! database types in its signatures, so that a PostgreSQL backend can sit behind the same methods later.
//! The default backend is one SQLite file in WAL mode (`sqlite.rs`), which lets the HTTP side read while
//! call tasks write.
mod agents;
mod flows;
mod record;
mod sqlite;
mod users;

pub use agents::AgentRow;
pub use flows::{ActiveFlow, FlowVersion, VersionInfo};
pub use record::*;
pub use users::{Role, Session, User};

use crate::events::Channel;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Handle on the database; cheap to clone (a connection pool inside).
#[derive(Clone, Debug)]
pub struct Store {
    pool: sqlx::SqlitePool,
}

/// One final utterance of a call's transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptRow {
    pub call_id: String,
    pub channel: Channel,
    pub utterance_id: u64,
    pub text: String,
    /// Milliseconds from the start of the call's audio.
    pub start_ms: u64,
    pub end_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A value that the schema allows but koe cannot represent (or the reverse), e.g. a negative count.
    #[error("value out of range for {field}: {value}")]
    OutOfRange { field: &'static str, value: String },
    #[error("unknown call status {0:?} in the database")]
    UnknownStatus(String),
    #[error("unknown transcript channel {0:?} in the database")]
    UnknownChannel(String),
    #[error("unknown role {0:?} in the database")]
    UnknownRole(String),
    #[error("unreadable stored document: {0}")]
    Corrupt(String),
}
