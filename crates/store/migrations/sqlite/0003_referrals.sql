-- Referrals from government units to platforms, de-conflicted by content (one referral,
-- several referrers), with a timeline; edits of the interventions catalogue, one row per
-- version; and intervention counters (no personal data: message, language and day).

CREATE TABLE referrals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform_id BIGINT NOT NULL REFERENCES organisations (id),
    url TEXT,
    -- The normalised URL and the hash of the normalised text that duplicates match on.
    url_key TEXT,
    text TEXT,
    content_hash TEXT,
    category TEXT NOT NULL,
    status TEXT NOT NULL,
    deadline_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    acknowledged_at BIGINT,
    decided_at BIGINT,
    reason TEXT
);
CREATE INDEX referrals_by_url ON referrals (platform_id, url_key);
CREATE INDEX referrals_by_hash ON referrals (platform_id, content_hash);
CREATE INDEX referrals_received ON referrals (platform_id, id);

CREATE TABLE referral_referrers (
    referral_id BIGINT NOT NULL REFERENCES referrals (id),
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    legal_basis TEXT NOT NULL,
    category TEXT NOT NULL,
    item_id BIGINT,
    actor TEXT NOT NULL,
    referred_at BIGINT NOT NULL,
    PRIMARY KEY (referral_id, organisation_id)
);
CREATE INDEX referral_referrers_by_org ON referral_referrers (organisation_id, referral_id);

CREATE TABLE referral_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    referral_id BIGINT NOT NULL REFERENCES referrals (id),
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    details TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX referral_events_by_referral ON referral_events (referral_id, id);

CREATE TABLE intervention_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    message TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    actor TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (message_id, version)
);

CREATE TABLE intervention_counts (
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    message_id TEXT NOT NULL,
    language TEXT NOT NULL,
    day BIGINT NOT NULL,
    impressions BIGINT NOT NULL DEFAULT 0,
    dismissals BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (organisation_id, message_id, language, day)
);
