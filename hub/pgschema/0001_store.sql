-- The hub's store on PostgreSQL (issue 14). Records, counters, statuses and
-- list infos are kept as the same JSON bytes as in hub.db (bbolt), so that a
-- migrated store serves the same answers; the columns beside them are what
-- queries, locks and retention need.

CREATE TABLE events (
	id          text COLLATE "C" PRIMARY KEY, -- dedupe by id: any instance may ingest any site
	site        text NOT NULL,
	gate        text NOT NULL,
	mode        text NOT NULL,               -- venue, shelter, kiosk or '' (retention)
	place       text NOT NULL,               -- the shelter, '' for none
	at          timestamptz NOT NULL,        -- tap time
	instance    text NOT NULL,               -- the hub instance that stored it ('' when migrated)
	record      bytea NOT NULL               -- JSON Record
);
CREATE INDEX events_mode_at ON events (mode, at);
CREATE INDEX events_site_place ON events (site, id) WHERE place <> '';

CREATE TABLE gate_stats (
	site  text NOT NULL,
	gate  text NOT NULL,
	stats bytea NOT NULL,                    -- JSON GateStats
	PRIMARY KEY (site, gate)
);

CREATE TABLE gate_status (
	site   text NOT NULL,
	gate   text NOT NULL,
	status bytea NOT NULL,                   -- JSON GateStatus
	PRIMARY KEY (site, gate)
);

CREATE TABLE inside (
	site     text NOT NULL,
	holder   text NOT NULL,                  -- keyed hash (peers.HolderKey), never a person
	inside   boolean NOT NULL,
	place    text NOT NULL,
	presence bytea NOT NULL,                 -- JSON peers.Presence
	PRIMARY KEY (site, holder)
);

CREATE TABLE conflicts (
	id       text COLLATE "C" PRIMARY KEY,   -- the admitted entry's event id
	site     text NOT NULL,
	conflict bytea NOT NULL                  -- JSON Conflict
);

CREATE TABLE lists (
	site    text NOT NULL,
	list    text NOT NULL,
	version bigint NOT NULL,
	info    bytea NOT NULL,                  -- JSON ListInfo
	PRIMARY KEY (site, list)
);

CREATE TABLE amends (
	id    text COLLATE "C" PRIMARY KEY,      -- the check-in's event id
	amend bytea NOT NULL                     -- JSON Amend
);

-- Counts commits by every instance, so that each one sees when the shared
-- store changed (views to compute again).
CREATE SEQUENCE store_commits;
