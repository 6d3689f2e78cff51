-- Sharing: who may pull a bank, partner feedback on its signals, where shared signals came
-- from, and the checkpoints of feeds pulled from partners.
ALTER TABLE banks ADD COLUMN tlp TEXT NOT NULL DEFAULT 'amber';
-- Comma-separated audience: `*` (every organisation), `group:<name>`, `org:<id>`; empty: nobody.
ALTER TABLE banks ADD COLUMN share_with TEXT NOT NULL DEFAULT '';
-- A signal disputed (or reported false) by this many partners stops matching; 0: never.
ALTER TABLE banks ADD COLUMN dispute_limit BIGINT NOT NULL DEFAULT 2;

-- The organisation (by name) that first shared a signal; NULL for the bank owner's own.
ALTER TABLE bank_signals ADD COLUMN origin TEXT;
ALTER TABLE bank_signals ADD COLUMN confirmed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE bank_signals ADD COLUMN disputed BIGINT NOT NULL DEFAULT 0;

CREATE TABLE share_groups (
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    name TEXT NOT NULL,
    UNIQUE (organisation_id, name)
);

CREATE TABLE signal_feedback (
    signal_id BIGINT NOT NULL REFERENCES bank_signals (id),
    from_organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    verdict TEXT NOT NULL,
    note TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (signal_id, from_organisation_id)
);

CREATE TABLE exchange_feeds (
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    url TEXT NOT NULL,
    collection TEXT NOT NULL,
    bank TEXT NOT NULL,
    credentials TEXT NOT NULL,
    added_after TEXT,
    identities TEXT NOT NULL DEFAULT '{}',
    last_pull_at BIGINT,
    last_error TEXT,
    UNIQUE (organisation_id, url, collection)
);
