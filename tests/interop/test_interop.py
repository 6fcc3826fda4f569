"""speedlayer against Kafka clients that no one here wrote: kafka-python (the founding
document's own client) and kcat, through a real broker.

Run: tests/interop/run.sh  (or ctest -R interop_python, which also starts the broker).
"""

import json
import re
import subprocess
import shutil

import pytest
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from conftest import (CLIENT_TIMEOUT_S, PROCESS_TIMEOUT_S, TRICKY, create_topic, describe,
                      json_text, parse_delivered, read_topic, servers_list, unique)


def _no_routes(tmp_path):
    p = tmp_path / "no-routes.yaml"
    p.write_text("routes: []\n")
    return str(p)


def _produce_text(run_speedlayer, tmp_path, bootstrap, topic, lines, routes, extra=()):
    proc = run_speedlayer(
        ["produce", "--brokers", bootstrap, "--topic", topic, "--routes", routes,
         "--format", "text", "--sync", "--dead-letter", str(tmp_path / "dead-letter.jsonl")]
        + list(extra),
        input="".join(l + "\n" for l in lines).encode("utf-8"))
    assert proc.returncode == 0, "speedlayer produce failed: " + describe(proc)
    delivered = parse_delivered(proc.stdout)
    assert sorted(d[3] for d in delivered) == list(range(1, len(lines) + 1)), \
        "expected one 'delivered ... line=N' per input line: " + describe(proc)
    assert not (tmp_path / "dead-letter.jsonl").exists() or \
        (tmp_path / "dead-letter.jsonl").stat().st_size == 0, "unexpected dead letters"
    return delivered


# ---------------------------------------------------------------------------------------
# kafka-python produces (the founding document's code), speedlayer consumes.


def _consume_available(speedlayer_bin):
    try:
        p = subprocess.run([speedlayer_bin, "consume", "--help"], capture_output=True,
                           timeout=PROCESS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False
    # Without the subcommand, CLI11 prints the top-level help (and exits 0 for --help).
    return p.returncode == 0 and re.search(rb"(?m)^Usage: \S+ consume\b", p.stdout) is not None


def _terminal_safe(text):
    """What consume's text format prints for a decoded value (README, "Hostile input")."""
    out = []
    for ch in text:
        o = ord(ch)
        if ch == "\t":
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif o < 0x20 or o == 0x7f:
            out.append("\\x%02x" % o)
        elif 0x80 <= o <= 0x9f:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    return "".join(out)


def test_founding_document_producer_to_speedlayer_consume(bootstrap, speedlayer_bin,
                                                          run_speedlayer):
    if not _consume_available(speedlayer_bin):
        pytest.skip("'speedlayer consume' does not exist yet (consume --help shows no consume usage)")

    BOOTSTRAP_SERVERS = bootstrap
    TOPIC_NAME = unique("founding")
    create_topic(bootstrap, TOPIC_NAME, partitions=1)  # one partition: one order to compare

    # The founding document's producer, as written there (plus explicit client timeouts; its
    # `except Exception: print(e)` is left out, since a lost message must fail the test).
    producer = KafkaProducer(
        bootstrap_servers=servers_list(BOOTSTRAP_SERVERS),
        value_serializer=lambda v: json.dumps(v).encode('utf-8'),
        max_block_ms=CLIENT_TIMEOUT_S * 1000,
        request_timeout_ms=CLIENT_TIMEOUT_S * 1000,
    )
    try:
        for message in TRICKY:
            future = producer.send(TOPIC_NAME, value=message)
            record_metadata = future.get(timeout=10)
            print("Messages are sent to parition: {}".format(record_metadata))
            assert record_metadata.topic == TOPIC_NAME
        producer.flush(timeout=10)
    finally:
        producer.close(timeout=10)

    # --raw: each decoded value byte for byte. Split on '\n' only: U+2028 / U+2029 / '\r'
    # inside a value are not line ends.
    proc = run_speedlayer(["consume", "--brokers", bootstrap, "--topic", TOPIC_NAME,
                           "--from", "beginning", "--exit-at-end", "--raw"])
    assert proc.returncode == 0, "speedlayer consume --raw failed: " + describe(proc)
    out = proc.stdout.decode("utf-8")
    assert out.endswith("\n"), "consume output must end with a newline: " + describe(proc)
    assert out[:-1].split("\n") == TRICKY

    # The default text format: the same values with control characters escaped, so that no
    # value can drive the terminal or span two lines.
    proc = run_speedlayer(["consume", "--brokers", bootstrap, "--topic", TOPIC_NAME,
                           "--from", "beginning", "--exit-at-end"])
    assert proc.returncode == 0, "speedlayer consume failed: " + describe(proc)
    out = proc.stdout.decode("utf-8")
    assert out.endswith("\n"), "consume output must end with a newline: " + describe(proc)
    assert out[:-1].split("\n") == [_terminal_safe(m) for m in TRICKY]


# ---------------------------------------------------------------------------------------
# speedlayer produces, kafka-python and kcat consume.


def test_speedlayer_text_produce_read_by_kafka_python(bootstrap, run_speedlayer, tmp_path):
    topic = unique("text")
    create_topic(bootstrap, topic, partitions=1)
    delivered = _produce_text(run_speedlayer, tmp_path, bootstrap, topic, TRICKY,
                              _no_routes(tmp_path))
    assert delivered == [(topic, 0, i, i + 1) for i in range(len(TRICKY))]

    # The founding document's consumer side: value_deserializer=json.loads.
    records = read_topic(bootstrap, topic, value_deserializer=json.loads)
    assert [r.value for r in records] == TRICKY
    assert all(r.key is None for r in records)

    # Byte for byte what Python's json.dumps sends (ASCII escapes, \ud83d\ude00 pairs...).
    raw = read_topic(bootstrap, topic)
    for r, s in zip(raw, TRICKY):
        assert r.value == json_text(s), "value for %r" % s[:40]
    assert len(raw) == len(TRICKY)


def test_routing_read_by_kafka_python(bootstrap, run_speedlayer, tmp_path):
    sfx = unique("route")
    sport, ai, other = "Sport-" + sfx, "AI-" + sfx, "other-" + sfx
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "routes:\n"
        "  - topic: %s\n"
        "    keywords: [basketball, football, messi]\n"
        "  - topic: %s\n"
        "    keywords: [AI, ML, NLP, CV]\n" % (sport, ai))
    cases = [
        ("I love basketball", sport),
        ("AI is everywhere", ai),
        ("hello world", other),
        ("Messi scored again!", sport),
        ("learning ml every day", ai),
        ("the messiah", other),                 # not the whole word messi
        ("FOOTBALL tonight", sport),            # case-insensitive
        ("paint the air", other),               # 'ai' inside words
        ("football, AI and ML", sport),         # first rule wins
        ("NLP/CV research", ai),
        ("basketballs are round", other),
        ("state of the art in ai.", ai),
        ("MLOps and aims", other),
        ("caf\u00e9 football \U0001F600", sport),
        ("an AI-powered app", ai),              # '-' ends a word
        ("just text", other),
    ]
    lines = [c[0] for c in cases]
    delivered = _produce_text(run_speedlayer, tmp_path, bootstrap, other, lines, str(routes))

    by_line = {d[3]: d for d in delivered}
    for n, (line, topic) in enumerate(cases, start=1):
        assert by_line[n][0] == topic, "line %d %r went to %s, expected %s" % (
            n, line, by_line[n][0], topic)

    for topic in (sport, ai, other):
        expected = [l for l, t in cases if t == topic]
        records = read_topic(bootstrap, topic, value_deserializer=json.loads)
        assert sorted(r.value for r in records) == sorted(expected), topic
        # Order: within each partition, in input order.
        for p in sorted({r.partition for r in records}):
            in_p = [r.value for r in records if r.partition == p]
            it = iter(expected)
            assert all(v in it for v in in_p), "%s[%d] out of order: %r" % (topic, p, in_p)
        # And each record sits exactly where produce --sync said it was delivered.
        where = {(r.partition, r.offset): r.value for r in records}
        for t, p, o, n in delivered:
            if t == topic:
                assert where.get((p, o)) == lines[n - 1], (t, p, o, n)


def test_kcat_reads_what_speedlayer_sends(bootstrap, run_speedlayer, tmp_path):
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        pytest.fail("kcat is not installed: run scripts/install-deps.sh --test", pytrace=False)
    topic = unique("kcat")
    create_topic(bootstrap, topic, partitions=1)
    _produce_text(run_speedlayer, tmp_path, bootstrap, topic, TRICKY, _no_routes(tmp_path))
    try:
        proc = subprocess.run([kcat, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning",
                               "-e", "-q", "-f", "%s\n"],
                              capture_output=True, timeout=PROCESS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail("kcat did not reach the end of %s within %ss" % (topic, PROCESS_TIMEOUT_S))
    assert proc.returncode == 0, "kcat failed: " + describe(proc)
    assert proc.stdout == b"".join(json_text(s) + b"\n" for s in TRICKY)


JSON_LINES = [
    ('{ "user" : "u1", "text": "basketball \\u00e9 \\/ ok", "n": 1, "tags": ["a", "b"] }',
     b"u1"),
    ('{"text": "no key field here", "nested": {"deep": [1, 2, {"x": null}]}}', None),
    ('{"user": "zo\u00eb", "text": "non-ASCII key", "ok": true, "f": 1.5}',
     "zo\u00eb".encode("utf-8")),
    ('{"user":"u1","text":"same key again"}', b"u1"),
    ('{"user": "u2", "text": "quote \\" tab \\t ctl \\u0001 emoji \\ud83d\\ude00"}', b"u2"),
]


def _minified(text):
    out, in_string, escaped = [], False, False
    for c in text:
        if in_string:
            out.append(c)
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c not in " \t\r\n":
            in_string = c == '"'
            out.append(c)
    return "".join(out)


def test_json_format_key_field_read_by_kafka_python(bootstrap, run_speedlayer, tmp_path):
    topic = unique("json")
    create_topic(bootstrap, topic, partitions=3)
    proc = run_speedlayer(
        ["produce", "--brokers", bootstrap, "--topic", topic, "--routes", _no_routes(tmp_path),
         "--format", "json", "--key-field", "user", "--sync",
         "--dead-letter", str(tmp_path / "dead-letter.jsonl")],
        input="".join(l + "\n" for l, _ in JSON_LINES).encode("utf-8"))
    assert proc.returncode == 0, "speedlayer produce --format json failed: " + describe(proc)
    delivered = parse_delivered(proc.stdout)
    assert sorted(d[3] for d in delivered) == list(range(1, len(JSON_LINES) + 1)), describe(proc)

    records = read_topic(bootstrap, topic)
    assert len(records) == len(JSON_LINES)
    at = {(r.partition, r.offset): r for r in records}
    partition_of_key = {}
    for _, p, o, n in delivered:
        line, key = JSON_LINES[n - 1]
        r = at[(p, o)]
        assert r.key == key, "line %d: key %r, expected %r" % (n, r.key, key)
        # Same JSON value...
        assert json.loads(r.value) == json.loads(line), "line %d" % n
        # ...written compact: the input line minus the whitespace outside strings, every other
        # byte as given (key order, number spelling, string escapes).
        assert r.value == _minified(line).encode("utf-8"), "line %d: %r" % (n, r.value)
        if key is not None:
            assert partition_of_key.setdefault(key, p) == p, "key %r on two partitions" % key


def test_keyed_partitioning_agrees_with_java_and_kafka_python(bootstrap, run_speedlayer,
                                                              tmp_path):
    topic = unique("keys")
    create_topic(bootstrap, topic, partitions=6)
    keys = ["user-%d" % i for i in range(40)]
    proc = run_speedlayer(
        ["produce", "--brokers", bootstrap, "--topic", topic, "--routes", _no_routes(tmp_path),
         "--format", "json", "--key-field", "user", "--sync",
         "--dead-letter", str(tmp_path / "dead-letter.jsonl")],
        input="".join(json.dumps({"user": k}) + "\n" for k in keys).encode("utf-8"))
    if proc.returncode != 0:  # not the expected failure: pytest.fail is no AssertionError
        pytest.fail("speedlayer produce failed: " + describe(proc))
    delivered = parse_delivered(proc.stdout)
    # Every message has its delivery line: with none parsed (a changed --sync format) the
    # partition check below would pass on nothing.
    assert sorted(d[3] for d in delivered) == list(range(1, len(keys) + 1)), \
        "%d delivery lines parsed for %d messages: %s" % (len(delivered), len(keys), describe(proc))
    wrong = []
    for _, p, _, n in delivered:
        k = keys[n - 1].encode("utf-8")
        want = (murmur2(k) & 0x7FFFFFFF) % 6   # Java's Utils.toPositive(murmur2(key)) % n
        if p != want:
            wrong.append((keys[n - 1], p, want))
    assert not wrong, "%d of %d keys on another partition than Java/kafka-python would use, " \
        "e.g. %r" % (len(wrong), len(keys), wrong[:3])
