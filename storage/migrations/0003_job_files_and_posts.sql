-- 0003: the reshaped job system. A job records where it came from (a member's interaction, the
-- command line, a schedule) and the lane it runs in; `job_files` lists every file a job read or
-- wrote; `posts` maps every message the bot posted to the images it shows, by the number users see.

ALTER TABLE jobs ADD COLUMN origin TEXT NOT NULL DEFAULT 'interaction'
    CHECK (origin IN ('interaction', 'cli', 'schedule'));
ALTER TABLE jobs ADD COLUMN lane TEXT NOT NULL DEFAULT 'interactive'
    CHECK (lane IN ('interactive', 'batch'));

DROP INDEX jobs_status_priority;
CREATE INDEX jobs_status_lane ON jobs (status, lane, priority DESC, created_at, id);

-- role: source, mask, output, grid, overlay, checkpoint, sample, ... (what the job did with the file)
CREATE TABLE job_files (
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    path       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (job_id, path)
);
CREATE INDEX job_files_path ON job_files (path);

-- The files jobs named in their request JSON and image rows before this version.
INSERT OR IGNORE INTO job_files (job_id, path, role, created_at)
    SELECT id, json_extract(request, '$.source_image'), 'source', created_at FROM jobs
    WHERE json_type(request, '$.source_image') = 'text';
INSERT OR IGNORE INTO job_files (job_id, path, role, created_at)
    SELECT id, json_extract(request, '$.mask_image'), 'mask', created_at FROM jobs
    WHERE json_type(request, '$.mask_image') = 'text';
INSERT OR IGNORE INTO job_files (job_id, path, role, created_at)
    SELECT jobs.id, e.value, 'overlay', jobs.created_at FROM jobs, json_each(jobs.request, '$.extra_files') AS e
    WHERE json_type(jobs.request, '$.extra_files') = 'array' AND e.type = 'text';
INSERT OR IGNORE INTO job_files (job_id, path, role, created_at)
    SELECT job_id, path, 'output', created_at FROM images;
INSERT OR IGNORE INTO job_files (job_id, path, role, created_at)
    SELECT job_id, json_extract(params, '$.grid'), 'grid', MIN(created_at) FROM images
    WHERE json_type(params, '$.grid') = 'text' GROUP BY job_id, json_extract(params, '$.grid');

-- number: the image's place on the message as users count it (keycap n picks image n of a grid).
-- role: grid (a result of several images), single (one image: a result of one, or from U), sheet, autopost.
CREATE TABLE posts (
    message_id INTEGER NOT NULL,
    number     INTEGER NOT NULL CHECK (number BETWEEN 1 AND 10),
    image_id   INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('grid', 'single', 'sheet', 'autopost')),
    channel_id INTEGER,
    guild_id   INTEGER,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (message_id, number)
);
CREATE INDEX posts_image ON posts (image_id);

-- The one message each image recorded before this version becomes its post.
INSERT OR IGNORE INTO posts (message_id, number, image_id, role, channel_id, guild_id, created_at)
    SELECT images.message_id, images.idx + 1, images.id,
           CASE WHEN (SELECT COUNT(*) FROM images AS same WHERE same.message_id = images.message_id) > 1
                THEN 'grid' ELSE 'single' END,
           images.channel_id, jobs.guild_id, images.created_at
    FROM images JOIN jobs ON jobs.id = images.job_id
    WHERE images.message_id IS NOT NULL AND images.idx < 10;

DROP INDEX images_message;
ALTER TABLE images DROP COLUMN message_id;
ALTER TABLE images DROP COLUMN channel_id;
