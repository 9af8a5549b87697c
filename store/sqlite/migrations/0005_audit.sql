-- The audit trail: every stream is hash-chained (see store.HashChange).
-- prev is the hash of the record before (empty for the first), hash
-- covers prev and the record. Rows of changes written before this
-- migration get theirs when the store opens (backfill).
ALTER TABLE changes ADD COLUMN prev BLOB;
ALTER TABLE changes ADD COLUMN hash BLOB;
CREATE INDEX changes_at ON changes (at);
-- Empty once the backfill is done: opening the store finds the rows left
-- to chain without scanning the log.
CREATE INDEX changes_unchained ON changes (seq) WHERE hash IS NULL;
-- Present until the backfill is done: after that, a row without a hash
-- is an altered row for verify to report, not one for the store to chain.
CREATE TABLE audit_backfill (stream TEXT PRIMARY KEY) WITHOUT ROWID;
INSERT INTO audit_backfill (stream) VALUES ('changes');

-- Every policy that was loaded: where from, its digest and its routes.
CREATE TABLE policy_versions (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    source TEXT    NOT NULL,
    digest TEXT    NOT NULL,
    doc    BLOB    NOT NULL,
    prev   BLOB    NOT NULL,
    hash   BLOB    NOT NULL
);
CREATE INDEX policy_versions_at ON policy_versions (at);

-- Access decisions: every deny, allows as configured (audit.decisions).
CREATE TABLE decisions (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    tenant_id INTEGER NOT NULL,
    user_id   TEXT    NOT NULL,
    user_name TEXT    NOT NULL,
    route     TEXT    NOT NULL,
    method    TEXT    NOT NULL,
    host      TEXT    NOT NULL,
    path      TEXT    NOT NULL,
    allow     INTEGER NOT NULL,
    reason    TEXT    NOT NULL,
    adapter   TEXT    NOT NULL,
    remote    TEXT    NOT NULL,
    cred_kind TEXT    NOT NULL,
    cred_id   TEXT    NOT NULL,
    prev      BLOB    NOT NULL,
    hash      BLOB    NOT NULL
);
CREATE INDEX decisions_at ON decisions (at);
