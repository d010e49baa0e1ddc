-- 0008: the gallery. Members star images (favourites) and gather them in named collections, scripts sign in
-- with API tokens (only their SHA-256 is kept), and prompts are searched by any substring of 3 characters or
-- more through an FTS5 index with the trigram tokenizer, which triggers keep in step with `images`.

CREATE TABLE favourites (
    user_id    INTEGER NOT NULL,
    image_id   INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (user_id, image_id)
);
CREATE INDEX favourites_image ON favourites (image_id);

-- A collection is its owner's; its name is kept as typed and unique per owner and server by its key
-- (storage/names.py). guild_id NULL: made outside a server (the local owner, a direct message).
CREATE TABLE collections (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id   INTEGER NOT NULL,
    guild_id   INTEGER,
    name       TEXT    NOT NULL,
    name_key   TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);
CREATE UNIQUE INDEX collections_owner_name_key ON collections (owner_id, IFNULL(guild_id, 0), name_key);

CREATE TABLE collection_items (
    collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    image_id      INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    added_at      TEXT    NOT NULL,
    PRIMARY KEY (collection_id, image_id)
);
CREATE INDEX collection_items_image ON collection_items (image_id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL,
    guild_id     INTEGER,
    name         TEXT    NOT NULL,
    sha256       TEXT    NOT NULL UNIQUE,
    created_at   TEXT    NOT NULL,
    last_used_at TEXT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- "This server" lists the images posted in a server's channels.
CREATE INDEX posts_guild_channel ON posts (guild_id, channel_id, image_id);

-- An external-content index: the prompts stay in `images` only; rowid is the image's id.
CREATE VIRTUAL TABLE images_fts USING fts5 (prompt, content = 'images', content_rowid = 'id', tokenize = 'trigram');
INSERT INTO images_fts (images_fts) VALUES ('rebuild');

CREATE TRIGGER images_fts_insert AFTER INSERT ON images BEGIN
    INSERT INTO images_fts (rowid, prompt) VALUES (new.id, new.prompt);
END;
CREATE TRIGGER images_fts_delete AFTER DELETE ON images BEGIN
    INSERT INTO images_fts (images_fts, rowid, prompt) VALUES ('delete', old.id, old.prompt);
END;
CREATE TRIGGER images_fts_update AFTER UPDATE OF prompt ON images BEGIN
    INSERT INTO images_fts (images_fts, rowid, prompt) VALUES ('delete', old.id, old.prompt);
    INSERT INTO images_fts (rowid, prompt) VALUES (new.id, new.prompt);
END;
