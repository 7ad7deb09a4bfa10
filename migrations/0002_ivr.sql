-- IVR flow versions, which version is live, admin accounts and their sign-in sessions.
-- Written in the SQL that SQLite and PostgreSQL share, like 0001.

-- Every version ever published, never updated or deleted: a rollback is a new version with an old body.
CREATE TABLE flow_versions (
    flow_id       TEXT NOT NULL,
    version       BIGINT NOT NULL CHECK (version >= 1),
    -- The flow as JSON, as it was submitted.
    body          TEXT NOT NULL,
    author        TEXT NOT NULL,
    comment       TEXT NOT NULL DEFAULT '',
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (flow_id, version)
);

-- The version of each flow that new calls get.
CREATE TABLE flow_active (
    flow_id       TEXT PRIMARY KEY NOT NULL,
    version       BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    updated_by    TEXT NOT NULL,
    FOREIGN KEY (flow_id, version) REFERENCES flow_versions (flow_id, version)
);

CREATE TABLE users (
    name          TEXT PRIMARY KEY NOT NULL,
    -- Argon2id, PHC string format.
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'agent', 'supervisor')),
    created_at_ms BIGINT NOT NULL
);

-- Only a hash of each token is kept, so a copy of the database signs nobody in.
CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY NOT NULL,
    user_name     TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    expires_at_ms BIGINT NOT NULL
);

CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);
CREATE INDEX sessions_by_user ON sessions (user_name);
