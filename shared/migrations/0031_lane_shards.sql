-- which shard of a preview lane (named by its own queue) a user's jobs go to (shared/lanes.py,
-- `ShardChooser`): a user keeps its shard, and a newcomer takes an empty one, so two active users
-- share a shard only when there are more of them than shards; rows unused for a day are removed
-- (the table is bounded by the users active in a day)
CREATE TABLE IF NOT EXISTS lane_shards (
    lane      text        NOT NULL,
    user_id   text        NOT NULL,
    shard     integer     NOT NULL,
    used_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lane, user_id)
);
CREATE INDEX IF NOT EXISTS lane_shards_shard ON lane_shards (lane, shard, used_at);
CREATE INDEX IF NOT EXISTS lane_shards_used ON lane_shards (used_at);
