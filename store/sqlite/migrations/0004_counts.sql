-- Resource counts per tenant and type, kept by triggers in the same
-- transaction as the rows, so that an unfiltered list (the first request
-- of most identity providers) does not count 100,000 rows.
CREATE TABLE resource_counts (
    tenant_id INTEGER NOT NULL,
    type      TEXT    NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, type)
) WITHOUT ROWID;

INSERT INTO resource_counts (tenant_id, type, n)
    SELECT tenant_id, type, count(*) FROM resources GROUP BY tenant_id, type;

CREATE TRIGGER resources_count_insert AFTER INSERT ON resources BEGIN
    INSERT INTO resource_counts (tenant_id, type, n) VALUES (NEW.tenant_id, NEW.type, 1)
        ON CONFLICT (tenant_id, type) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER resources_count_delete AFTER DELETE ON resources BEGIN
    UPDATE resource_counts SET n = n - 1 WHERE tenant_id = OLD.tenant_id AND type = OLD.type;
END;
