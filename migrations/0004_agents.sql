-- Agents and what happened between a caller and them: the routing record of each call (queue, offers,
-- agent, transfers) as one JSON document like `ivr`; the wrap-up the agent saves and the summary made at
-- the end, in their own columns/table because they are written after the call task has finished.
CREATE TABLE agents (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    -- {"skill": level}, ["en", "ja"]
    skills        TEXT NOT NULL,
    languages     TEXT NOT NULL,
    -- The SIP digest password of the agent's phone; NULL: the phone cannot register.
    sip_password  TEXT,
    updated_at_ms BIGINT NOT NULL
);

ALTER TABLE calls ADD COLUMN service TEXT;
ALTER TABLE calls ADD COLUMN summary TEXT;
ALTER TABLE calls ADD COLUMN recording_pauses TEXT;
-- The caller's number (the From URI's user part), to find their previous calls.
ALTER TABLE calls ADD COLUMN caller_number TEXT;
CREATE INDEX calls_by_caller ON calls (caller_number, invite_at_ms);

CREATE TABLE wrapups (
    call_id     TEXT PRIMARY KEY NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    agent       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    disposition TEXT NOT NULL,
    notes       TEXT NOT NULL,
    saved_at_ms BIGINT NOT NULL
);
