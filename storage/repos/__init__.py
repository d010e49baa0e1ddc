"""One repository per table group; each returns frozen records from `storage.records`."""
