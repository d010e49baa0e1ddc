-- 0007: names are kept as typed and matched by a key (NFKC, case-folded: storage/names.py).
-- Every name stored so far is a lower-case ASCII slug, whose key is itself.

ALTER TABLE models ADD COLUMN name_key TEXT;
UPDATE models SET name_key = name;
CREATE UNIQUE INDEX models_name_key ON models (name_key);

ALTER TABLE training_sets ADD COLUMN name_key TEXT;
UPDATE training_sets SET name_key = name;
CREATE UNIQUE INDEX training_sets_guild_name_key ON training_sets (IFNULL(guild_id, 0), name_key);

ALTER TABLE schedules ADD COLUMN name_key TEXT;
UPDATE schedules SET name_key = name;
CREATE UNIQUE INDEX schedules_guild_name_key ON schedules (IFNULL(guild_id, 0), name_key);
