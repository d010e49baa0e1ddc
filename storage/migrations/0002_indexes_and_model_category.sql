-- 0002: indexes for the hot lookups, and a category for models (image models today, others later).

ALTER TABLE models ADD COLUMN category TEXT NOT NULL DEFAULT 'image';

CREATE INDEX jobs_status_priority ON jobs (status, priority DESC, created_at, id);
CREATE INDEX jobs_requester ON jobs (requester_id, created_at);
CREATE INDEX images_job ON images (job_id, idx);
CREATE INDEX images_message ON images (message_id);
CREATE INDEX training_items_image ON training_items (image_id);
CREATE INDEX training_items_added_by ON training_items (added_by);
CREATE INDEX reactions_image ON reactions (image_id);
CREATE INDEX reactions_user ON reactions (user_id);
CREATE INDEX schedules_created_by ON schedules (created_by);
