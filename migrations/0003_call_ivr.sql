-- What the IVR did in each call (flow version, path, variables, outcome), as one JSON document: it is
-- read and written whole with the call record, and its shape can grow without a migration per field.
ALTER TABLE calls ADD COLUMN ivr TEXT;
