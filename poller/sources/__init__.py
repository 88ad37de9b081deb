"""Event source I/O: receiving, deleting, checkpointing. Decisions live elsewhere."""
