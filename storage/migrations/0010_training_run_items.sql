-- 0010: a training run's images (the copies it trains on, with their captions) become rows of their own instead of
-- the `items` array of the run's plan JSON, so that storage no longer reaches into the plan. They exist from the
-- run's start until it ends (the run forgets them then: a member's deleted data must not outlive the training);
-- `position` keeps their order, the order the trainer reads them in. The items of the runs planned before are
-- copied out of their plans, and the key is taken out of the JSON.

CREATE TABLE training_run_items (
    run_id   INTEGER NOT NULL REFERENCES training_runs (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    path     TEXT    NOT NULL,
    caption  TEXT    NOT NULL,
    PRIMARY KEY (run_id, position)
);

INSERT INTO training_run_items (run_id, position, path, caption)
SELECT r.id, CAST(i.key AS INTEGER), json_extract(i.value, '$[0]'), COALESCE(json_extract(i.value, '$[1]'), '')
FROM training_runs r, json_each(r.plan, '$.items') i
WHERE json_type(r.plan, '$.items') = 'array';

UPDATE training_runs SET plan = json_remove(plan, '$.items') WHERE json_type(plan, '$.items') IS NOT NULL;
