-- The temporal index of the directory, for point-in-time questions ("who
-- could reach route R at time T"). It is derived from the change log and
-- written in the same transaction as each change (see history.go); a store
-- opened over a log it has not indexed yet catches up first.
--
-- Every row is a span of sequence numbers: it holds from the change
-- from_seq on, until the change to_seq ended it (9223372036854775807
-- while it still holds). The state after change S is the rows with
-- from_seq <= S < to_seq.

-- One row per change, with the latest time any change up to it carries
-- (hat): change times need not grow with seq (a change stamped earlier may
-- commit later), their running maximum does, which makes "the state at T"
-- the log up to the last change with hat <= T.
CREATE TABLE history_clock (
    seq INTEGER PRIMARY KEY,
    hat INTEGER NOT NULL
);
CREATE INDEX history_clock_hat ON history_clock (hat);

CREATE TABLE history_tenants (
    tenant_id INTEGER PRIMARY KEY,
    name      TEXT    NOT NULL,
    from_seq  INTEGER NOT NULL
);

-- born is the change that created the resource: its first span's from_seq.
CREATE TABLE history_users (
    tenant_id INTEGER NOT NULL,
    id        TEXT    NOT NULL,
    from_seq  INTEGER NOT NULL,
    to_seq    INTEGER NOT NULL,
    born      INTEGER NOT NULL,
    user_name TEXT    NOT NULL,
    name_key  TEXT    NOT NULL,
    active    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id, from_seq)
) WITHOUT ROWID;
CREATE INDEX history_users_name ON history_users (name_key);

CREATE TABLE history_groups (
    tenant_id    INTEGER NOT NULL,
    id           TEXT    NOT NULL,
    from_seq     INTEGER NOT NULL,
    to_seq       INTEGER NOT NULL,
    born         INTEGER NOT NULL,
    display_name TEXT    NOT NULL,
    name_key     TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, id, from_seq)
) WITHOUT ROWID;
CREATE INDEX history_groups_name ON history_groups (name_key);

CREATE TABLE history_members (
    tenant_id   INTEGER NOT NULL,
    group_id    TEXT    NOT NULL,
    member_id   TEXT    NOT NULL,
    from_seq    INTEGER NOT NULL,
    to_seq      INTEGER NOT NULL,
    member_type TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, group_id, member_id, from_seq)
) WITHOUT ROWID;
CREATE INDEX history_members_member ON history_members (tenant_id, member_id);
