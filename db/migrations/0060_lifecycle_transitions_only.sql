-- position_lifecycle holds a position's transitions only, as the contract's `events` list
-- does: the creation step written by earlier versions goes (the creation stays in
-- ledger_events as POSITION_CREATED, and in the event log). A rebuild writes no such row, so
-- removing them keeps live equal to a rebuild.
DELETE FROM position_lifecycle WHERE from_state IS NULL;
ALTER TABLE position_lifecycle ALTER COLUMN from_state SET NOT NULL;
