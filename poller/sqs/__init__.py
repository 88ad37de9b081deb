"""An SQS event source mapping: pollers that gather, invoke and settle, scaled like Lambda."""
