"""Fixtures and helpers for the interop tests.

The broker comes from CTest's kafka_single fixture: its bootstrap address is the first line of
$SPEEDLAYER_KAFKA_STATE/single/bootstrap. The speedlayer executable is $SPEEDLAYER_BIN (CTest
sets both). Every network call has an explicit timeout, and a missing broker fails the run at
once with a message saying what to do, instead of hanging.
"""

import json
import os
import re
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic

REPO = Path(__file__).resolve().parents[2]

# Seconds. A single call that takes longer than this is a failure, not something to wait for.
CLIENT_TIMEOUT_S = 30
PROCESS_TIMEOUT_S = 60

# Strings that are easy to get wrong when a value travels as Python's json.dumps text:
# escapes, non-ASCII (BMP and surrogate pairs), control characters, and the separators that
# JSON allows raw but JavaScript and str.splitlines() treat as line ends. None holds '\n',
# since the text producer reads one message per line.
TRICKY = [
    "Hello",
    'say "hi"',
    "back\\slash, and \\n is not a newline",
    "tab\there",
    "caf\u00e9 \u00e9t\u00e9 na\u00efve",
    "emoji \U0001F600 \U0001F680 flag \U0001F1FB\U0001F1F3",
    "control \u0001 \u001f and DEL \u007f",
    "line\u2028separator and paragraph\u2029separator",
    "carriage\rreturn inside",
    '{"looks": "like json", "n": 1}',
    "  leading and trailing spaces  ",
    "\u4e2d\u6587 \u0420\u0443\u0441\u0441\u043a\u0438\u0439 \u0639\u0631\u0628\u064a",
    "long " + "x\u00e9\U0001F600" * 3000,
]

# Environment that would change speedlayer's settings behind the test's back.
_SETTINGS_ENV = re.compile(r"^(KAFKA_.*|BOOTSTRAP_SERVERS|SPEEDLAYER_ROUTES|SPEEDLAYER_CONFIG)$")


def unique(name):
    """A topic name no other test or run uses."""
    return "interop-%s-%s" % (name, uuid.uuid4().hex[:12])


def _probe(hostport, timeout=5.0):
    host, _, port = hostport.rpartition(":")
    host = host.strip("[]")
    with socket.create_connection((host, int(port)), timeout=timeout):
        pass


@pytest.fixture(scope="session")
def bootstrap():
    """host:port[,host:port...] of the test broker; fails fast when it is not there."""
    state = os.environ.get("SPEEDLAYER_KAFKA_STATE")
    if not state:
        pytest.fail(
            "SPEEDLAYER_KAFKA_STATE is not set: run these tests with "
            "'ctest -R interop_python' (it starts the broker), or point SPEEDLAYER_KAFKA_STATE "
            "at a directory whose single/bootstrap file holds a running broker's host:port",
            pytrace=False)
    path = Path(state) / "single" / "bootstrap"
    try:
        servers = path.read_text().split()[0].strip()
    except (OSError, IndexError):
        pytest.fail(
            "no broker address in %s: start the broker first (ctest runs kafka_single_start; "
            "by hand: scripts/kafka-broker.sh start --dir %s --brokers 1)"
            % (path, Path(state) / "single"), pytrace=False)
    errors = []
    for hp in servers.split(","):
        try:
            _probe(hp)
            return servers
        except (OSError, ValueError) as e:
            errors.append("%s: %s" % (hp, e))
    pytest.fail("Kafka broker from %s is not reachable (%s): is it running?"
                % (path, "; ".join(errors)), pytrace=False)


@pytest.fixture(scope="session")
def speedlayer_bin():
    b = os.environ.get("SPEEDLAYER_BIN") or str(REPO / "build" / "src" / "app" / "speedlayer")
    if not os.access(b, os.X_OK):
        pytest.fail("speedlayer executable not found at %s: build it (cmake --build build) or "
                    "set SPEEDLAYER_BIN" % b, pytrace=False)
    return b


@pytest.fixture
def run_speedlayer(speedlayer_bin, tmp_path):
    """run_speedlayer(args, input=bytes) -> CompletedProcess (bytes), with a hard timeout.

    Runs in tmp_path with KAFKA_* / SPEEDLAYER_ROUTES / SPEEDLAYER_CONFIG removed from the
    environment, so only the flags the test passes count."""
    env = {k: v for k, v in os.environ.items() if not _SETTINGS_ENV.match(k)}

    def run(args, input=b"", timeout=PROCESS_TIMEOUT_S):
        try:
            return subprocess.run([speedlayer_bin] + list(args), input=input, env=env,
                                  cwd=tmp_path, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            pytest.fail("speedlayer %s did not finish within %ss; stderr:\n%s"
                        % (" ".join(args), timeout, (e.stderr or b"").decode("utf-8", "replace")))
    return run


def describe(proc):
    return "exit %s\nstdout:\n%s\nstderr:\n%s" % (
        proc.returncode, proc.stdout.decode("utf-8", "replace")[-4000:],
        proc.stderr.decode("utf-8", "replace")[-4000:])


def parse_delivered(stdout):
    """The `delivered topic=T partition=P offset=O line=N` lines of produce --sync."""
    out = []
    for line in stdout.decode("utf-8").splitlines():
        m = re.fullmatch(r"delivered topic=(\S+) partition=(\d+) offset=(\d+) line=(\d+)", line)
        if m:
            out.append((m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))))
    return out


def servers_list(bootstrap):
    return bootstrap.split(",")


def create_topic(bootstrap, topic, partitions=1):
    """Create a topic up front (1 partition: one total order to compare against)."""
    admin = KafkaAdminClient(bootstrap_servers=servers_list(bootstrap),
                             request_timeout_ms=CLIENT_TIMEOUT_S * 1000,
                             api_version_auto_timeout_ms=10000)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                            timeout_ms=CLIENT_TIMEOUT_S * 1000)
    finally:
        admin.close()
    # Wait until metadata shows the topic, so producers do not race its creation.
    wait_for_partitions(bootstrap, topic, expect=partitions)


def wait_for_partitions(bootstrap, topic, expect=None, timeout=CLIENT_TIMEOUT_S):
    c = KafkaConsumer(bootstrap_servers=servers_list(bootstrap),
                      api_version_auto_timeout_ms=10000,
                      request_timeout_ms=CLIENT_TIMEOUT_S * 1000)
    try:
        deadline = time.monotonic() + timeout
        while True:
            parts = c.partitions_for_topic(topic)
            if parts and (expect is None or len(parts) == expect):
                return sorted(parts)
            if time.monotonic() > deadline:
                raise AssertionError("topic %s has no (or not %s) partitions after %ss: %r"
                                     % (topic, expect, timeout, parts))
            time.sleep(0.2)
            c.topics()  # forces a metadata refresh
    finally:
        c.close()


def read_topic(bootstrap, topic, value_deserializer=None, key_deserializer=None,
               timeout=CLIENT_TIMEOUT_S):
    """Every record on the topic right now, as a list sorted by (partition, offset).

    Plain kafka-python KafkaConsumer, no group: assign all partitions, seek to the beginning
    and poll until each partition's position reaches the end offset seen at the start."""
    parts = wait_for_partitions(bootstrap, topic, timeout=timeout)
    kwargs = {}
    if value_deserializer is not None:
        kwargs["value_deserializer"] = value_deserializer
    if key_deserializer is not None:
        kwargs["key_deserializer"] = key_deserializer
    c = KafkaConsumer(bootstrap_servers=servers_list(bootstrap), group_id=None,
                      enable_auto_commit=False, auto_offset_reset="earliest",
                      api_version_auto_timeout_ms=10000,
                      request_timeout_ms=CLIENT_TIMEOUT_S * 1000, **kwargs)
    try:
        tps = [TopicPartition(topic, p) for p in parts]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        end = c.end_offsets(tps)
        records = []
        deadline = time.monotonic() + timeout
        while any(c.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise AssertionError("kafka-python read only %d records of %s within %ss "
                                     "(end offsets %r)" % (len(records), topic, timeout, end))
            for batch in c.poll(timeout_ms=500).values():
                records.extend(batch)
        records.sort(key=lambda r: (r.partition, r.offset))
        return records
    finally:
        c.close()


def json_text(s):
    """The exact bytes the founding document's producer sends for the value s."""
    return json.dumps(s).encode("utf-8")
