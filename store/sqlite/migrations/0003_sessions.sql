-- Browser sessions after OIDC sign-in. The cookie holds the id and a
-- secret; only the SHA-256 of the secret is stored.
CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,
    tenant_id  INTEGER NOT NULL REFERENCES tenants (id),
    user_id    TEXT    NOT NULL,
    hash       BLOB    NOT NULL,
    created    INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    expires    INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0,
    id_token   TEXT    NOT NULL DEFAULT '',
    user_agent TEXT    NOT NULL DEFAULT '',
    remote     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);

-- Sign-ins in progress: each state is used once.
CREATE TABLE login_states (
    state     TEXT    PRIMARY KEY,
    nonce     TEXT    NOT NULL,
    verifier  TEXT    NOT NULL,
    return_to TEXT    NOT NULL,
    created   INTEGER NOT NULL
);
