-- migrate: foreign_keys=off
-- 0009: jobs submitted from the web studio record the origin 'web'. A CHECK constraint cannot be altered in
-- place, so `jobs` is rebuilt (SQLite's 12-step procedure, "Making Other Kinds Of Table Schema Changes"); the
-- marker above makes the runner switch foreign keys off around this transaction, so dropping the old table
-- neither cascades into images, job_files, training_runs and schedule_slots nor breaks their references,
-- and checks every reference before it commits. The columns keep their order, types and defaults.

CREATE TABLE jobs_new (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              TEXT    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    request           TEXT    NOT NULL DEFAULT '{}',
    requester_id      INTEGER NOT NULL,
    guild_id          INTEGER,
    channel_id        INTEGER,
    message_id        INTEGER,
    interaction_token TEXT,
    token_expires_at  TEXT,
    priority          INTEGER NOT NULL DEFAULT 0,
    attempts          INTEGER NOT NULL DEFAULT 0,
    error             TEXT,
    result            TEXT,
    delivered         INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT    NOT NULL,
    started_at        TEXT,
    finished_at       TEXT,
    origin            TEXT    NOT NULL DEFAULT 'interaction'
                      CHECK (origin IN ('interaction', 'cli', 'schedule', 'web')),
    lane              TEXT    NOT NULL DEFAULT 'interactive'
                      CHECK (lane IN ('interactive', 'batch'))
);

INSERT INTO jobs_new (
    id, kind, status, request, requester_id, guild_id, channel_id, message_id, interaction_token,
    token_expires_at, priority, attempts, error, result, delivered, created_at, started_at, finished_at,
    origin, lane
)
SELECT
    id, kind, status, request, requester_id, guild_id, channel_id, message_id, interaction_token,
    token_expires_at, priority, attempts, error, result, delivered, created_at, started_at, finished_at,
    origin, lane
FROM jobs;

-- AUTOINCREMENT never reuses an id: carry the old counter over (the copy alone would only reach the
-- largest id still present, and a deleted newest job's id would come back).
DELETE FROM sqlite_sequence WHERE name = 'jobs_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs_new', seq FROM sqlite_sequence WHERE name = 'jobs';

DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;

-- The indexes on jobs (0002, 0003); no trigger or view names jobs.
CREATE INDEX jobs_requester ON jobs (requester_id, created_at);
CREATE INDEX jobs_status_lane ON jobs (status, lane, priority DESC, created_at, id);
