-- Call records and their final transcripts.
-- Written in the SQL that SQLite and PostgreSQL share, so that the same schema serves both backends.

CREATE TABLE calls (
    id                   TEXT PRIMARY KEY NOT NULL,
    from_uri             TEXT NOT NULL,
    to_uri               TEXT NOT NULL,
    invite_at_ms         BIGINT NOT NULL,
    answered_at_ms       BIGINT,
    ended_at_ms          BIGINT,
    status               TEXT NOT NULL
                         CHECK (status IN ('ringing', 'answered', 'ended', 'abnormal')),
    hangup_by            TEXT,
    end_cause            TEXT,
    codec                TEXT,
    packets_sent         BIGINT NOT NULL DEFAULT 0,
    packets_received     BIGINT NOT NULL DEFAULT 0,
    packets_lost         BIGINT NOT NULL DEFAULT 0,
    jitter_ms            DOUBLE PRECISION NOT NULL DEFAULT 0,
    remote_fraction_lost DOUBLE PRECISION,
    remote_jitter_ms     DOUBLE PRECISION,
    concealed_frames     BIGINT NOT NULL DEFAULT 0,
    rejected_packets     BIGINT NOT NULL DEFAULT 0,
    dtmf                 TEXT NOT NULL DEFAULT '',
    recording_path       TEXT
);

-- The call list is read newest first, optionally for one status.
CREATE INDEX calls_by_invite ON calls (invite_at_ms DESC, id DESC);
CREATE INDEX calls_by_status ON calls (status, invite_at_ms DESC);

CREATE TABLE transcripts (
    call_id      TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    channel      TEXT NOT NULL CHECK (channel IN ('caller', 'agent')),
    utterance_id BIGINT NOT NULL,
    text         TEXT NOT NULL,
    start_ms     BIGINT NOT NULL,
    end_ms       BIGINT NOT NULL,
    PRIMARY KEY (call_id, channel, utterance_id)
);

CREATE INDEX transcripts_by_start ON transcripts (call_id, start_ms);
