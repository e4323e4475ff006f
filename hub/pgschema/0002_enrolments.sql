-- Kiosk enrolments waiting for the list box (issue 11): an admitted enrol
-- event is stored with its row here in one transaction, by whichever
-- instance ingested it; the instance holding lists.db enrols it and deletes
-- the row.
CREATE TABLE enrolments (
	id     text COLLATE "C" PRIMARY KEY,      -- the enrol event's id
	site   text NOT NULL,
	record bytea NOT NULL                     -- JSON Record of the event
);
