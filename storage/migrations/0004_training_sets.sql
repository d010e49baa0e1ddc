-- 0004: training sets that members build in Discord. A set can be locked by its owner; each item says
-- how it entered the set (a reaction, an upload, a character sheet), which reaction added it (removing
-- the reaction removes the item), and whether its caption is the captioner's or a member's correction.
-- Each member has one active set per server: the set their reactions feed.

ALTER TABLE training_sets ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;

ALTER TABLE training_items ADD COLUMN source TEXT NOT NULL DEFAULT 'upload'
    CHECK (source IN ('reaction', 'upload', 'sheet'));
ALTER TABLE training_items ADD COLUMN caption_source TEXT NOT NULL DEFAULT 'auto'
    CHECK (caption_source IN ('auto', 'user'));
ALTER TABLE training_items ADD COLUMN message_id INTEGER;
ALTER TABLE training_items ADD COLUMN emoji TEXT;
CREATE INDEX training_items_reaction ON training_items (message_id, emoji, added_by);

-- guild_id 0 stands for direct messages, as in `usage`.
CREATE TABLE active_training_sets (
    guild_id INTEGER NOT NULL DEFAULT 0,
    user_id  INTEGER NOT NULL,
    set_id   INTEGER NOT NULL REFERENCES training_sets (id) ON DELETE CASCADE,
    PRIMARY KEY (guild_id, user_id)
);
CREATE INDEX active_training_sets_set ON active_training_sets (set_id);
