"""A Kinesis or DynamoDB Streams mapping: shard readers, lanes, failure policy, tumbling windows."""
