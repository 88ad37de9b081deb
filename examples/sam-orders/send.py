"""Send orders to the example's queue on the embedded endpoint:
`python send.py '{"id": "o-1", "quantity": 2}' 'not an order'`."""

from __future__ import annotations

import sys

import boto3

ENDPOINT = "http://127.0.0.1:4599"  # local.yaml's embedded.port


def main(bodies: list[str]) -> None:
    sqs = boto3.client(
        "sqs",
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - the embedded endpoint takes any key
    )
    url = sqs.get_queue_url(QueueName="orders-dev")["QueueUrl"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
        print(f"sent {body}")


if __name__ == "__main__":
    main(sys.argv[1:] or ['{"id": "o-1", "quantity": 2}'])
