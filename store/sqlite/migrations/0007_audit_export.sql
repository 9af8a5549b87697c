-- SIEM export and retention of the audit trail.

-- How far each export sink has delivered each stream: the sequence number
-- of the last record it delivered. A sink re-sends from here after a
-- restart, so delivery is at least once.
CREATE TABLE audit_export_cursors (
    sink    TEXT    NOT NULL,
    stream  TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (sink, stream)
) WITHOUT ROWID;

-- Where retention cut the head of a stream: the last deleted record's
-- sequence number, hash and time. The first record kept chains to it, and
-- verify starts from it.
CREATE TABLE audit_anchors (
    stream TEXT    PRIMARY KEY,
    seq    INTEGER NOT NULL,
    hash   BLOB    NOT NULL,
    at     INTEGER NOT NULL,
    pruned INTEGER NOT NULL
) WITHOUT ROWID;
