"""Checkpoint stores (SQLite, a DynamoDB lease table) and which shards a mapping may read."""
