"""Durable shard checkpoints for stream sources (Kinesis, DynamoDB Streams)."""
