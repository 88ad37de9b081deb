"""Event source I/O: receiving, deleting, reading shards. Decisions live elsewhere."""
