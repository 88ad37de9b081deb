#!/usr/bin/env bash
# Creates what deploy/compose/poller.yaml reads, on LocalStack:
#   - SQS queue `orders` (visibility timeout 30 s) redriving to `orders-dlq` after 3 receives
#   - SQS queue `clicks-failures`, the Kinesis mapping's on-failure destination
#   - Kinesis stream `clicks` with 2 shards
#   - DynamoDB table `inventory` (partition key `sku`) with a NEW_AND_OLD_IMAGES stream
#
# Idempotent: what exists is left as is (the queues' attributes are set again). docker-compose.yml
# mounts it as LocalStack's READY hook, so it runs inside the container on every LocalStack
# start; from the host, run it against the published port:
#     deploy/compose/create-resources.sh                   # http://localhost:4566
#     AWS_ENDPOINT_URL=http://host:4566 deploy/compose/create-resources.sh
# Needs the AWS CLI (v1 or v2) or awslocal.
set -euo pipefail

ENDPOINT="${AWS_ENDPOINT_URL:-http://localhost:4566}"
REGION="${AWS_REGION:-us-east-1}"
QUEUE=orders
DLQ=orders-dlq
MAX_RECEIVE_COUNT=3
VISIBILITY_TIMEOUT=30
FAILURES_QUEUE=clicks-failures
STREAM=clicks
STREAM_SHARDS=2
TABLE=inventory
TABLE_KEY=sku

# LocalStack accepts any credentials; "test" selects its default account, 000000000000, the one
# in poller.yaml's ARNs. Set here so a real AWS profile in the environment is never used.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_DEFAULT_REGION="$REGION" AWS_REGION="$REGION" AWS_PAGER=""
unset AWS_PROFILE AWS_SESSION_TOKEN

if command -v aws > /dev/null 2>&1; then
    cli=(aws --endpoint-url "$ENDPOINT" --region "$REGION")
elif command -v awslocal > /dev/null 2>&1; then
    cli=(awslocal --region "$REGION")
else
    echo "create-resources.sh: needs the AWS CLI (aws) or awslocal on PATH" >&2
    exit 1
fi

say() { printf 'create-resources: %s\n' "$*"; }

queue_url() {  # create-queue returns the existing queue's URL when it already exists
    "${cli[@]}" sqs create-queue --queue-name "$1" --query QueueUrl --output text
}

dlq_url="$(queue_url "$DLQ")"
dlq_arn="$("${cli[@]}" sqs get-queue-attributes --queue-url "$dlq_url" \
    --attribute-names QueueArn --query Attributes.QueueArn --output text)"
queue="$(queue_url "$QUEUE")"
redrive="{\\\"deadLetterTargetArn\\\":\\\"${dlq_arn}\\\",\\\"maxReceiveCount\\\":\\\"${MAX_RECEIVE_COUNT}\\\"}"
"${cli[@]}" sqs set-queue-attributes --queue-url "$queue" --attributes \
    "{\"VisibilityTimeout\":\"${VISIBILITY_TIMEOUT}\",\"RedrivePolicy\":\"${redrive}\"}"
say "queue $QUEUE -> dead-letter queue $DLQ after $MAX_RECEIVE_COUNT receives"
queue_url "$FAILURES_QUEUE" > /dev/null
say "queue $FAILURES_QUEUE"

if ! "${cli[@]}" kinesis describe-stream-summary --stream-name "$STREAM" > /dev/null 2>&1; then
    "${cli[@]}" kinesis create-stream --stream-name "$STREAM" --shard-count "$STREAM_SHARDS"
fi
"${cli[@]}" kinesis wait stream-exists --stream-name "$STREAM"
say "stream $STREAM"

if ! "${cli[@]}" dynamodb describe-table --table-name "$TABLE" > /dev/null 2>&1; then
    "${cli[@]}" dynamodb create-table --table-name "$TABLE" \
        --attribute-definitions "AttributeName=${TABLE_KEY},AttributeType=S" \
        --key-schema "AttributeName=${TABLE_KEY},KeyType=HASH" \
        --billing-mode PAY_PER_REQUEST \
        --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES \
        > /dev/null
fi
"${cli[@]}" dynamodb wait table-exists --table-name "$TABLE"
stream_arn="$("${cli[@]}" dynamodb describe-table --table-name "$TABLE" \
    --query Table.LatestStreamArn --output text)"
say "table $TABLE, stream $stream_arn"
