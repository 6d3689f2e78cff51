-- Breakwater store, SQLite schema. Timestamps are Unix milliseconds (UTC); JSON is TEXT.
CREATE TABLE organisations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    audit_seq BIGINT NOT NULL DEFAULT 0,
    audit_head TEXT NOT NULL DEFAULT '0000000000000000000000000000000000000000000000000000000000000000'
);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    role TEXT NOT NULL,
    label TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    external_id TEXT NOT NULL,
    item TEXT NOT NULL,
    assessment TEXT NOT NULL,
    verdict TEXT NOT NULL,
    category TEXT,
    language TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (organisation_id, external_id)
);
CREATE INDEX items_by_time ON items (organisation_id, created_at, id);

CREATE TABLE queue_entries (
    item_id BIGINT PRIMARY KEY REFERENCES items (id),
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    queue TEXT NOT NULL,
    priority DOUBLE PRECISION NOT NULL,
    enqueued_at BIGINT NOT NULL,
    claimed_by BIGINT,
    lease_until BIGINT
);
CREATE INDEX queue_pick ON queue_entries (organisation_id, queue, priority DESC, enqueued_at, item_id);

CREATE TABLE decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    item_id BIGINT NOT NULL REFERENCES items (id),
    reviewer_key_id BIGINT NOT NULL,
    queue TEXT NOT NULL,
    category TEXT,
    policy TEXT NOT NULL,
    action TEXT NOT NULL,
    note TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX decisions_by_item ON decisions (organisation_id, item_id, id);

CREATE TABLE appeals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    item_id BIGINT NOT NULL REFERENCES items (id),
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    event TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at, id);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    seq BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (organisation_id, seq)
);

CREATE TABLE webhooks (
    organisation_id BIGINT PRIMARY KEY REFERENCES organisations (id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
