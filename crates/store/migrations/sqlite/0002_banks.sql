-- Signal banks. `change_seq` comes from organisations.bank_seq, taken under the
-- organisation's row lock, so readers can follow changes in commit order.
ALTER TABLE organisations ADD COLUMN bank_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE banks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    category TEXT,
    verdict TEXT NOT NULL DEFAULT 'review',
    pdq_threshold BIGINT NOT NULL DEFAULT 31,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_until BIGINT,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    change_seq BIGINT NOT NULL,
    UNIQUE (organisation_id, name)
);

CREATE TABLE bank_signals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    bank_id BIGINT NOT NULL REFERENCES banks (id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    category TEXT,
    source TEXT,
    note TEXT,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    removed_at BIGINT,
    change_seq BIGINT NOT NULL,
    UNIQUE (bank_id, kind, value)
);
CREATE INDEX bank_signals_lookup ON bank_signals (organisation_id, kind, value);
CREATE INDEX bank_signals_changes ON bank_signals (organisation_id, change_seq, id);
