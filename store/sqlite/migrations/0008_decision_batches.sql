-- Decisions stored in batches (store/decision_batch.go): one row holds
-- the records of many decisions, each still hash-chained. Binding a row
-- per decision cost more than the decision; a batch is one value.
-- The rows of the decisions table are moved here by the Go step of this
-- migration (convertDecisions), which then drops that table.
CREATE TABLE decision_batches (
    -- The seq of the batch's last decision. AUTOINCREMENT keeps the
    -- highest ever stored in sqlite_sequence: the stream's counter, so
    -- that verify sees a tail that was deleted.
    last_seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    first_seq INTEGER NOT NULL,
    min_at    INTEGER NOT NULL, -- the earliest and latest decision time
    max_at    INTEGER NOT NULL,
    n         INTEGER NOT NULL, -- decisions in the batch
    prev      BLOB    NOT NULL, -- the hash the first decision chains to
    last_hash BLOB    NOT NULL, -- the last decision's hash (the chain head)
    data      BLOB    NOT NULL
);
-- Time-ordered reads (audit log) find their batches from this index alone.
CREATE INDEX decision_batches_at ON decision_batches (min_at, max_at);
