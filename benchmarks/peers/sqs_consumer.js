// bbc's sqs-consumer as a benchmark contender: N Consumer instances on one SQSClient.
//
//   node sqs_consumer.js '<config JSON>'
//
// config: {modules, endpoint, region, queueUrl, concurrency, messages, waitTimeSeconds, mode}
//   modules  a directory whose node_modules holds sqs-consumer and @aws-sdk/client-sqs
//            (benchmarks/fast_server.py installs it in its cache)
//   mode     "throughput": done when `messages` distinct messages have been deleted;
//            "latency": done when `messages` distinct messages (by body.seq) reached the
//            handler; each handler start is reported in wall-clock milliseconds.
//
// One Consumer receives, runs its handler, deletes, then receives again: sqs-consumer has no
// concurrency option, so `concurrency` instances sharing one client make that many receives in
// flight, as poller's pollers and the raw loop's workers do. batchSize 10, a 20 s long poll, all
// attributes (what poller asks for), handleMessageBatch (one DeleteMessageBatch per batch) with a
// no-op handler that acknowledges the whole batch.
//
// Speaks JSON lines on stdout (see bench_support.run_peer): start, ready, done, stopped, error.
// `done` carries seconds (start -> done, client creation included), cpu_seconds
// (process.cpuUsage(): user + system of the whole process, every thread), received, deleted
// (DeleteMessageBatch entries that succeeded), calls by operation, and in latency mode handled
// {seq: wall ms}.
'use strict';

const { createRequire } = require('node:module');
const path = require('node:path');

const config = JSON.parse(process.argv[2]);
const requireFrom = createRequire(path.join(config.modules, 'package.json'));
const { Consumer } = requireFrom('sqs-consumer');
const { SQSClient } = requireFrom('@aws-sdk/client-sqs');

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

function wallMs() {
  return performance.timeOrigin + performance.now();
}

// Counts every call by operation and the ids of successful deletes, at the client's send().
function instrument(sqs, state) {
  const send = sqs.send.bind(sqs);
  sqs.send = async (command, options) => {
    const operation = command.constructor.name.replace(/Command$/, '');
    state.calls[operation] = (state.calls[operation] || 0) + 1;
    const output = await send(command, options);
    if (operation === 'DeleteMessageBatch') {
      for (const entry of output.Successful || []) {
        state.deleted += 1;
        state.deletedIds.add(entry.Id); // sqs-consumer uses the MessageId as the entry Id
      }
      state.check();
    }
    return output;
  };
}

function handler(state) {
  return async (messages) => {
    const at = wallMs();
    state.received += messages.length;
    if (config.mode === 'latency') {
      for (const message of messages) {
        const seq = JSON.parse(message.Body).seq;
        if (!(seq in state.handled)) {
          state.handled[seq] = at;
          state.handledCount += 1;
        }
      }
      state.check();
    }
    return messages; // acknowledge (delete) the whole batch
  };
}

async function main() {
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  emit({ event: 'start' });
  let finish;
  const finished = new Promise((resolve) => {
    finish = resolve;
  });
  const state = {
    calls: {},
    received: 0,
    deleted: 0,
    deletedIds: new Set(),
    handled: {},
    handledCount: 0,
    check() {
      const count = config.mode === 'latency' ? this.handledCount : this.deletedIds.size;
      if (count >= config.messages) finish();
    },
  };
  const sqs = new SQSClient({
    region: config.region,
    endpoint: config.endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 3,
  });
  instrument(sqs, state);
  let stopping = false;
  const consumers = [];
  for (let i = 0; i < config.concurrency; i += 1) {
    const consumer = Consumer.create({
      queueUrl: config.queueUrl,
      sqs,
      useQueueUrlAsEndpoint: false,
      batchSize: 10,
      waitTimeSeconds: config.waitTimeSeconds,
      messageSystemAttributeNames: ['All'],
      messageAttributeNames: ['All'],
      handleMessageBatch: handler(state),
    });
    consumer.on('error', (err) => {
      if (!stopping) process.stderr.write(`sqs-consumer error: ${err.message}\n`);
    });
    consumers.push(consumer);
  }
  for (const consumer of consumers) consumer.start();
  emit({ event: 'ready' });
  await finished;
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStarted);
  emit({
    event: 'done',
    seconds,
    cpu_seconds: (cpu.user + cpu.system) / 1e6,
    received: state.received,
    deleted: state.deleted,
    distinct_deleted: state.deletedIds.size,
    calls: state.calls,
    handled: config.mode === 'latency' ? state.handled : undefined,
  });
  stopping = true;
  for (const consumer of consumers) consumer.stop({ abort: true });
  sqs.destroy();
  emit({ event: 'stopped' });
}

main().then(
  () => process.exit(0),
  (err) => {
    emit({ event: 'error', message: String((err && err.stack) || err) });
    process.exit(1);
  },
);
