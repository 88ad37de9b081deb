"""`poller demo`: the embedded endpoint, sample traffic, three handlers and the summary."""
