-- Times are Unix nanoseconds in UTC; 0 means unset.

CREATE TABLE tenants (
    id      INTEGER PRIMARY KEY,
    name    TEXT    NOT NULL UNIQUE,
    created INTEGER NOT NULL
);

CREATE TABLE tokens (
    id          TEXT    PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    hash        BLOB    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    created     INTEGER NOT NULL,
    expires     INTEGER NOT NULL DEFAULT 0,
    last_used   INTEGER NOT NULL DEFAULT 0,
    revoked     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tokens_tenant ON tokens (tenant_id);

-- rid is internal: membership edges reference it so that they stay small
-- and joins stay cheap; AUTOINCREMENT so a deleted rid is never reused.
-- The SCIM id is unique per tenant across types.
CREATE TABLE resources (
    rid         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    type        TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    name_key    TEXT    NOT NULL,
    external_id TEXT    NOT NULL DEFAULT '',
    display     TEXT    NOT NULL DEFAULT '',
    active      INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    modified    INTEGER NOT NULL,
    doc         BLOB    NOT NULL
);
CREATE UNIQUE INDEX resources_id ON resources (tenant_id, id);
CREATE UNIQUE INDEX resources_name ON resources (tenant_id, type, name_key);
CREATE INDEX resources_external ON resources (tenant_id, type, external_id) WHERE external_id <> '';
CREATE INDEX resources_type ON resources (tenant_id, type, rid);

CREATE TABLE members (
    group_rid  INTEGER NOT NULL,
    member_rid INTEGER NOT NULL,
    PRIMARY KEY (group_rid, member_rid)
) WITHOUT ROWID;
CREATE INDEX members_member ON members (member_rid, group_rid);

CREATE TABLE changes (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    actor         TEXT    NOT NULL,
    resource_type TEXT    NOT NULL,
    resource_id   TEXT    NOT NULL,
    op            TEXT    NOT NULL,
    before        BLOB,
    after         BLOB,
    edges         BLOB,
    detail        BLOB
);
