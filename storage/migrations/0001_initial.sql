-- 0001: the first schema. Timestamps are ISO-8601 UTC text; JSON columns hold objects or arrays.

CREATE TABLE jobs (
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
    finished_at       TEXT
);

CREATE TABLE images (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id          INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx             INTEGER NOT NULL,
    path            TEXT    NOT NULL,
    sha256          TEXT    NOT NULL,
    size_bytes      INTEGER NOT NULL,
    width           INTEGER NOT NULL,
    height          INTEGER NOT NULL,
    seed            INTEGER NOT NULL,
    prompt          TEXT    NOT NULL,
    negative_prompt TEXT    NOT NULL DEFAULT '',
    model           TEXT    NOT NULL,
    loras           TEXT    NOT NULL DEFAULT '[]',
    params          TEXT    NOT NULL DEFAULT '{}',
    channel_id      INTEGER,
    message_id      INTEGER,
    created_at      TEXT    NOT NULL,
    UNIQUE (job_id, idx)
);

CREATE TABLE models (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    display_name TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('base', 'lora')),
    family       TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    base_model   TEXT,
    trigger_word TEXT,
    config       TEXT    NOT NULL DEFAULT '{}',
    active       INTEGER NOT NULL DEFAULT 1,
    created_by   INTEGER,
    created_at   TEXT    NOT NULL
);

CREATE TABLE training_sets (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    guild_id     INTEGER,
    owner_id     INTEGER NOT NULL,
    trigger_word TEXT,
    base_model   TEXT,
    created_at   TEXT    NOT NULL
);
-- NULL guild ids (direct messages) would not collide in a plain UNIQUE constraint.
CREATE UNIQUE INDEX training_sets_guild_name ON training_sets (IFNULL(guild_id, 0), name);

CREATE TABLE training_items (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    set_id     INTEGER NOT NULL REFERENCES training_sets (id) ON DELETE CASCADE,
    image_id   INTEGER REFERENCES images (id) ON DELETE CASCADE,
    path       TEXT    NOT NULL,
    caption    TEXT,
    added_by   INTEGER NOT NULL,
    created_at TEXT    NOT NULL,
    UNIQUE (set_id, image_id),
    UNIQUE (set_id, path)
);

CREATE TABLE reactions (
    message_id INTEGER NOT NULL,
    image_id   INTEGER REFERENCES images (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    emoji      TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);

CREATE TABLE schedules (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    guild_id    INTEGER,
    channel_id  INTEGER NOT NULL,
    cron        TEXT    NOT NULL,
    prompt      TEXT    NOT NULL,
    model       TEXT,
    params      TEXT    NOT NULL DEFAULT '{}',
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_by  INTEGER NOT NULL,
    last_run_at TEXT,
    created_at  TEXT    NOT NULL
);
CREATE UNIQUE INDEX schedules_guild_name ON schedules (IFNULL(guild_id, 0), name);

-- Only the fields a guild changed are stored (a JSON object), so new settings need no migration.
CREATE TABLE guild_settings (
    guild_id   INTEGER PRIMARY KEY,
    data       TEXT    NOT NULL DEFAULT '{}',
    updated_at TEXT    NOT NULL
);

-- guild_id 0 stands for direct messages: a NULL would break the primary key.
CREATE TABLE usage (
    user_id  INTEGER NOT NULL,
    guild_id INTEGER NOT NULL DEFAULT 0,
    day      TEXT    NOT NULL,
    images   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, guild_id, day)
);
