-- API tokens owned by directory users: only the SHA-256 of the secret.
CREATE TABLE access_tokens (
    id          TEXT    PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    user_id     TEXT    NOT NULL,
    hash        BLOB    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    created     INTEGER NOT NULL,
    expires     INTEGER NOT NULL DEFAULT 0,
    revoked     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX access_tokens_user ON access_tokens (tenant_id, user_id);

-- Keys that sign the assertions the gateway sends upstream.
CREATE TABLE signing_keys (
    id      TEXT    PRIMARY KEY,
    alg     TEXT    NOT NULL,
    private BLOB    NOT NULL,
    created INTEGER NOT NULL
);
