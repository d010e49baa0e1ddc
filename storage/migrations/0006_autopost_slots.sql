-- 0006: auto-posts. Each scheduled slot is claimed here before its job is queued (the primary key makes a second
-- claim of the same slot fail), so no slot is ever posted twice, across restarts and duplicate wake-ups. A
-- schedule remembers its newest claimed slot, why it is paused (a member, or a channel or permission lost), the
-- channel where it was made (problems are told there) and what its last run did. Wildcard lists are per server.

ALTER TABLE schedules ADD COLUMN last_slot TEXT;
ALTER TABLE schedules ADD COLUMN paused_reason TEXT;
ALTER TABLE schedules ADD COLUMN home_channel_id INTEGER;
ALTER TABLE schedules ADD COLUMN last_result TEXT;

CREATE TABLE schedule_slots (
    schedule_id INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    slot        TEXT    NOT NULL,
    job_id      INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
    claimed_at  TEXT    NOT NULL,
    PRIMARY KEY (schedule_id, slot)
);
CREATE INDEX schedule_slots_job ON schedule_slots (job_id);

-- guild_id 0 stands for this machine's own lists (the CLI), as in `usage`.
CREATE TABLE wildcards (
    guild_id   INTEGER NOT NULL DEFAULT 0,
    name       TEXT    NOT NULL,
    items      TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (guild_id, name)
);
