-- 0005: LoRA training runs. A run is planned (the member sees its settings with Start and Cancel), then
-- started as a job of kind 'train'; its checkpoints are kept so that the community can vote on their sample
-- grids (👍) and the requester can switch the registered model to any of them. requester_id is NULL once
-- the member's data was deleted: the model the run made is a guild asset and stays.

CREATE TABLE training_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id     INTEGER NOT NULL DEFAULT 0,
    requester_id INTEGER,
    set_id       INTEGER REFERENCES training_sets (id) ON DELETE SET NULL,
    set_name     TEXT    NOT NULL,
    output_name  TEXT    NOT NULL,
    base_model   TEXT    NOT NULL,
    trigger_word TEXT,
    plan         TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'planned'
                 CHECK (status IN ('planned', 'started', 'done', 'stopped', 'dropped')),
    job_id       INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
    model_name   TEXT,
    chosen_step  INTEGER,
    result       TEXT    NOT NULL DEFAULT '{}',
    created_at   TEXT    NOT NULL,
    finished_at  TEXT
);
CREATE INDEX training_runs_guild ON training_runs (guild_id, created_at);
CREATE INDEX training_runs_job ON training_runs (job_id);

CREATE TABLE training_checkpoints (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       INTEGER NOT NULL REFERENCES training_runs (id) ON DELETE CASCADE,
    step         INTEGER NOT NULL,
    lora_path    TEXT    NOT NULL,
    samples_path TEXT,
    loss         REAL,
    consistency  REAL,
    likeness     REAL,
    message_id   INTEGER,
    UNIQUE (run_id, step)
);
CREATE INDEX training_checkpoints_message ON training_checkpoints (message_id);

CREATE TABLE checkpoint_votes (
    checkpoint_id INTEGER NOT NULL REFERENCES training_checkpoints (id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL,
    PRIMARY KEY (checkpoint_id, user_id)
);
