"""Shard leases shared by replicas (the Kinesis Client Library's protocol): plan, holder, table."""
