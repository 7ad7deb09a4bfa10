//! The SQLite backend of [`Store`]: one `koe.db` file in the data directory, WAL mode, runtime-checked
//! queries (no database needed at build time).

use super::{CallRecord, CallStatus, RtpStats, Store, StoreError, TranscriptRow};
use crate::events::Channel;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;

/// File name of the database inside the data directory.
const DB_FILE: &str = "koe.db";

/// `SELECT` of every column `call_from_row` reads, followed by the rest of the query: a macro so that each
/// query stays one `&'static str`.
macro_rules! select_calls {
    ($($rest:literal),+) => {
        concat!(
            "SELECT id, from_uri, to_uri, invite_at_ms, answered_at_ms, ended_at_ms, status, hangup_by, \
             end_cause, codec, packets_sent, packets_received, packets_lost, jitter_ms, \
             remote_fraction_lost, remote_jitter_ms, concealed_frames, rejected_packets, dtmf, \
             recording_path, ivr, service, recording_pauses FROM calls ",
            $($rest),+
        )
    };
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join(DB_FILE))
            .create_if_missing(true)
            // WAL: readers (the HTTP API) never block the writer (call tasks) and vice versa.
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL loses at most the last transactions on power loss, never consistency.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    /// Inserts the call or replaces every field of the stored one (the call task owns the record).
    pub async fn upsert_call(&self, call: &CallRecord) -> Result<(), StoreError> {
        let rtp = &call.rtp;
        sqlx::query(
            "INSERT INTO calls (id, from_uri, to_uri, invite_at_ms, answered_at_ms, ended_at_ms, status, \
                 hangup_by, end_cause, codec, packets_sent, packets_received, packets_lost, jitter_ms, \
                 remote_fraction_lost, remote_jitter_ms, concealed_frames, rejected_packets, dtmf, \
                 recording_path, ivr, service, caller_number, recording_pauses) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, \
                 ?21, ?22, ?23, ?24) \
             ON CONFLICT (id) DO UPDATE SET \
                 from_uri = excluded.from_uri, to_uri = excluded.to_uri, \
                 invite_at_ms = excluded.invite_at_ms, answered_at_ms = excluded.answered_at_ms, \
                 ended_at_ms = excluded.ended_at_ms, status = excluded.status, \
                 hangup_by = excluded.hangup_by, end_cause = excluded.end_cause, codec = excluded.codec, \
                 packets_sent = excluded.packets_sent, packets_received = excluded.packets_received, \
                 packets_lost = excluded.packets_lost, jitter_ms = excluded.jitter_ms, \
                 remote_fraction_lost = excluded.remote_fraction_lost, \
                 remote_jitter_ms = excluded.remote_jitter_ms, \
                 concealed_frames = excluded.concealed_frames, \
                 rejected_packets = excluded.rejected_packets, dtmf = excluded.dtmf, \
                 recording_path = excluded.recording_path, ivr = excluded.ivr, \
                 service = excluded.service, caller_number = excluded.caller_number, \
                 recording_pauses = excluded.recording_pauses",
        )
        .bind(&call.id)
        .bind(&call.from_uri)
        .bind(&call.to_uri)
        .bind(call.invite_at_ms)
        .bind(call.answered_at_ms)
        .bind(call.ended_at_ms)
        .bind(call.status.as_str())
        .bind(&call.hangup_by)
        .bind(&call.end_cause)
        .bind(&call.codec)
        .bind(to_i64("packets_sent", rtp.packets_sent)?)
        .bind(to_i64("packets_received", rtp.packets_received)?)
        .bind(to_i64("packets_lost", rtp.packets_lost)?)
        .bind(rtp.jitter_ms)
        .bind(rtp.remote_fraction_lost)
        .bind(rtp.remote_jitter_ms)
        .bind(to_i64("concealed_frames", rtp.concealed_frames)?)
        .bind(to_i64("rejected_packets", rtp.rejected_packets)?)
        .bind(&call.dtmf)
        .bind(&call.recording_path)
        .bind(
            call.ivr
                .as_ref()
                .map(|i| serde_json::to_string(i).expect("IVR record serialises")),
        )
        .bind(
            call.service
                .as_ref()
                .map(|i| serde_json::to_string(i).expect("service record serialises")),
        )
        .bind(super::caller_number(&call.from_uri))
        .bind(serde_json::to_string(&call.recording_pauses).expect("spans serialise"))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_call(&self, id: &str) -> Result<Option<CallRecord>, StoreError> {
        let row = sqlx::query(select_calls!("WHERE id = ?1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(call_from_row).transpose()
    }

    /// A page of calls, newest INVITE first, optionally only those with one status.
    pub async fn list_calls(
        &self,
        limit: u32,
        offset: u32,
        status: Option<CallStatus>,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let rows = sqlx::query(select_calls!(
            "WHERE (?1 IS NULL OR status = ?1) ORDER BY invite_at_ms DESC, id DESC LIMIT ?2 OFFSET ?3"
        ))
        .bind(status.map(CallStatus::as_str))
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(call_from_row).collect()
    }

    /// Calls still ringing or answered: at start-up these belong to a process that died, and the caller
    /// marks them [`CallStatus::Abnormal`].
    pub async fn unfinished_calls(&self) -> Result<Vec<CallRecord>, StoreError> {
        let rows = sqlx::query(select_calls!(
            "WHERE status IN ('ringing', 'answered') ORDER BY invite_at_ms, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(call_from_row).collect()
    }

    /// Stores one final utterance. Storing the same (call, channel, utterance) again replaces it, so a
    /// re-delivered event is harmless. The call must exist.
    pub async fn add_transcript(
        &self,
        call_id: &str,
        channel: Channel,
        utterance_id: u64,
        text: &str,
        start_ms: u64,
        end_ms: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO transcripts (call_id, channel, utterance_id, text, start_ms, end_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (call_id, channel, utterance_id) DO UPDATE SET \
                 text = excluded.text, start_ms = excluded.start_ms, end_ms = excluded.end_ms",
        )
        .bind(call_id)
        .bind(channel_str(channel))
        .bind(to_i64("utterance_id", utterance_id)?)
        .bind(text)
        .bind(to_i64("start_ms", start_ms)?)
        .bind(to_i64("end_ms", end_ms)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The call's final utterances, both channels interleaved in order of their start.
    pub async fn transcript(&self, call_id: &str) -> Result<Vec<TranscriptRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT call_id, channel, utterance_id, text, start_ms, end_ms FROM transcripts \
             WHERE call_id = ?1 ORDER BY start_ms, channel, utterance_id",
        )
        .bind(call_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let channel: String = row.try_get("channel")?;
                Ok(TranscriptRow {
                    call_id: row.try_get("call_id")?,
                    channel: parse_channel(&channel)?,
                    utterance_id: to_u64("utterance_id", row.try_get("utterance_id")?)?,
                    text: row.try_get("text")?,
                    start_ms: to_u64("start_ms", row.try_get("start_ms")?)?,
                    end_ms: to_u64("end_ms", row.try_get("end_ms")?)?,
                })
            })
            .collect()
    }
}

fn call_from_row(row: &SqliteRow) -> Result<CallRecord, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(CallRecord {
        id: row.try_get("id")?,
        from_uri: row.try_get("from_uri")?,
        to_uri: row.try_get("to_uri")?,
        invite_at_ms: row.try_get("invite_at_ms")?,
        answered_at_ms: row.try_get("answered_at_ms")?,
        ended_at_ms: row.try_get("ended_at_ms")?,
        status: CallStatus::parse(&status).ok_or(StoreError::UnknownStatus(status))?,
        hangup_by: row.try_get("hangup_by")?,
        end_cause: row.try_get("end_cause")?,
        codec: row.try_get("codec")?,
        rtp: RtpStats {
            packets_sent: to_u64("packets_sent", row.try_get("packets_sent")?)?,
            packets_received: to_u64("packets_received", row.try_get("packets_received")?)?,
            packets_lost: to_u64("packets_lost", row.try_get("packets_lost")?)?,
            jitter_ms: row.try_get("jitter_ms")?,
            remote_fraction_lost: row.try_get("remote_fraction_lost")?,
            remote_jitter_ms: row.try_get("remote_jitter_ms")?,
            concealed_frames: to_u64("concealed_frames", row.try_get("concealed_frames")?)?,
            rejected_packets: to_u64("rejected_packets", row.try_get("rejected_packets")?)?,
        },
        dtmf: row.try_get("dtmf")?,
        recording_path: row.try_get("recording_path")?,
        ivr: row
            .try_get::<Option<String>, _>("ivr")?
            .map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("ivr: {e}"))))
            .transpose()?,
        service: row
            .try_get::<Option<String>, _>("service")?
            .map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("service: {e}"))))
            .transpose()?,
        recording_pauses: row
            .try_get::<Option<String>, _>("recording_pauses")?
            .map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("pauses: {e}"))))
            .transpose()?
            .unwrap_or_default(),
    })
}

/// SQL integers are signed 64-bit; koe's counters are unsigned.
fn to_i64(field: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange {
        field,
        value: value.to_string(),
    })
}

fn to_u64(field: &'static str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::OutOfRange {
        field,
        value: value.to_string(),
    })
}

fn channel_str(channel: Channel) -> &'static str {
    match channel {
        Channel::Caller => "caller",
        Channel::Agent => "agent",
    }
}

fn parse_channel(s: &str) -> Result<Channel, StoreError> {
    match s {
        "caller" => Ok(Channel::Caller),
        "agent" => Ok(Channel::Agent),
        other => Err(StoreError::UnknownChannel(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_record(id: &str, invite_at_ms: i64, status: CallStatus) -> CallRecord {
        CallRecord {
            answered_at_ms: Some(invite_at_ms + 1_200),
            ended_at_ms: Some(invite_at_ms + 61_000),
            status,
            hangup_by: Some("caller".into()),
            end_cause: Some("bye".into()),
            codec: Some("PCMU".into()),
            rtp: RtpStats {
                packets_sent: 3_000,
                packets_received: 2_990,
                packets_lost: 10,
                jitter_ms: 1.875,
                remote_fraction_lost: Some(0.0039),
                remote_jitter_ms: Some(2.5),
                concealed_frames: 12,
                rejected_packets: 1,
            },
            dtmf: "12#".into(),
            recording_path: Some(format!("recordings/{id}.wav")),
            ..CallRecord::new(id, "sip:alice@example.com", "sip:support@koe.local", invite_at_ms)
        }
    }

    #[tokio::test]
    async fn call_round_trip_and_update() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();

        let fresh = CallRecord::new("a@1", "sip:alice@example.com", "sip:support@koe.local", 1_000);
        store.upsert_call(&fresh).await.unwrap();
        assert_eq!(store.get_call("a@1").await.unwrap(), Some(fresh));

        let ended = full_record("a@1", 1_000, CallStatus::Ended);
        store.upsert_call(&ended).await.unwrap();
        assert_eq!(store.get_call("a@1").await.unwrap(), Some(ended));
        assert_eq!(store.get_call("nobody").await.unwrap(), None);
    }

    #[tokio::test]
    async fn reopen_sees_data_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("nested/data");
        let record = full_record("b@2", 5_000, CallStatus::Ended);
        {
            let store = Store::open(&data_dir).await.unwrap();
            store.upsert_call(&record).await.unwrap();
            store.pool.close().await;
        }
        let store = Store::open(&data_dir).await.unwrap();
        assert_eq!(store.get_call("b@2").await.unwrap(), Some(record));
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(data_dir.join(DB_FILE).is_file());
    }

    #[tokio::test]
    async fn list_is_newest_first_paged_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let statuses = [
            CallStatus::Ended,
            CallStatus::Answered,
            CallStatus::Ended,
            CallStatus::Ringing,
            CallStatus::Ended,
        ];
        for (i, status) in statuses.iter().enumerate() {
            let id = format!("c{i}");
            store
                .upsert_call(&full_record(&id, 1_000 * i as i64, *status))
                .await
                .unwrap();
        }
        let ids = |calls: Vec<CallRecord>| calls.into_iter().map(|c| c.id).collect::<Vec<_>>();

        assert_eq!(
            ids(store.list_calls(10, 0, None).await.unwrap()),
            ["c4", "c3", "c2", "c1", "c0"]
        );
        assert_eq!(ids(store.list_calls(2, 1, None).await.unwrap()), ["c3", "c2"]);
        assert_eq!(
            ids(store.list_calls(10, 0, Some(CallStatus::Ended)).await.unwrap()),
            ["c4", "c2", "c0"]
        );
        assert_eq!(
            ids(store.list_calls(1, 1, Some(CallStatus::Ended)).await.unwrap()),
            ["c2"]
        );
        assert!(store.list_calls(10, 5, None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn unfinished_calls_are_ringing_or_answered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        for (id, status) in [
            ("ended", CallStatus::Ended),
            ("ringing", CallStatus::Ringing),
            ("abnormal", CallStatus::Abnormal),
            ("answered", CallStatus::Answered),
        ] {
            store
                .upsert_call(&full_record(id, id.len() as i64, status))
                .await
                .unwrap();
        }
        store.pool.close().await;

        // As at start-up after a crash: a new process opens the same directory.
        let store = Store::open(dir.path()).await.unwrap();
        let unfinished = store.unfinished_calls().await.unwrap();
        let ids: Vec<_> = unfinished.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["ringing", "answered"]);

        for mut call in unfinished {
            call.status = CallStatus::Abnormal;
            store.upsert_call(&call).await.unwrap();
        }
        assert!(store.unfinished_calls().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn transcript_is_ordered_by_start_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        store
            .upsert_call(&full_record("t@1", 0, CallStatus::Answered))
            .await
            .unwrap();
        store
            .add_transcript("t@1", Channel::Agent, 1, "How can I help?", 2_500, 3_400)
            .await
            .unwrap();
        store
            .add_transcript("t@1", Channel::Caller, 1, "Hello.", 400, 1_100)
            .await
            .unwrap();
        store
            .add_transcript("t@1", Channel::Caller, 2, "My card was declined", 3_900, 5_600)
            .await
            .unwrap();
        // The same utterance delivered again (e.g. after a reconnect) replaces, never duplicates.
        store
            .add_transcript("t@1", Channel::Caller, 2, "My card was declined.", 3_900, 5_700)
            .await
            .unwrap();

        let rows = store.transcript("t@1").await.unwrap();
        let summary: Vec<_> = rows
            .iter()
            .map(|r| (r.channel, r.utterance_id, r.text.as_str(), r.start_ms, r.end_ms))
            .collect();
        assert_eq!(
            summary,
            [
                (Channel::Caller, 1, "Hello.", 400, 1_100),
                (Channel::Agent, 1, "How can I help?", 2_500, 3_400),
                (Channel::Caller, 2, "My card was declined.", 3_900, 5_700),
            ]
        );
        assert!(store.transcript("other").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn transcript_of_unknown_call_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let err = store
            .add_transcript("ghost", Channel::Caller, 1, "boo", 0, 10)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Database(_)), "{err}");
    }

    #[tokio::test]
    async fn counters_beyond_i64_are_an_error_not_a_wrap() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut call = full_record("big", 0, CallStatus::Ended);
        call.rtp.packets_sent = u64::MAX;
        let err = store.upsert_call(&call).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::OutOfRange {
                    field: "packets_sent",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn open_fails_cleanly_when_data_dir_is_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = Store::open(&file.join("sub")).await.unwrap_err();
        assert!(matches!(err, StoreError::CreateDir { .. }), "{err}");
    }
}
