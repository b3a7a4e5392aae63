-- Telephony: agents' phone accounts, call flows and the numbers that reach them, call
-- recordings, and each queue's recording policy.

ALTER TABLE agents ADD COLUMN sip_username TEXT;
ALTER TABLE agents ADD COLUMN sip_ha1 TEXT;
CREATE UNIQUE INDEX agents_sip_username ON agents (sip_username);

ALTER TABLE queues ADD COLUMN record_calls BIGINT NOT NULL DEFAULT 0;

-- Call flows (IVR) as their TOML source; checked before they are stored.
CREATE TABLE flows (
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    source      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- Dialed numbers (DIDs) → tenant and flow. "*" matches any number of the tenant's trunks.
CREATE TABLE numbers (
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id),
    number      TEXT NOT NULL,
    flow        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, number)
);

CREATE TABLE recordings (
    id           BIGINT PRIMARY KEY,
    tenant_id    BIGINT NOT NULL REFERENCES tenants (id),
    contact_id   BIGINT NOT NULL REFERENCES contacts (id),
    kind         TEXT NOT NULL,
    path         TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    ended_at     BIGINT,
    duration_ms  BIGINT,
    status       TEXT NOT NULL
);
CREATE INDEX recordings_contact ON recordings (tenant_id, contact_id);
