-- Who may pull an organisation's trend summary over TAXII (same audience syntax as banks),
-- and the smallest count it shows.
ALTER TABLE organisations ADD COLUMN trends_share_with TEXT NOT NULL DEFAULT '';
ALTER TABLE organisations ADD COLUMN trends_min_count BIGINT NOT NULL DEFAULT 10;
