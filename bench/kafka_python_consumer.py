#!/usr/bin/env python3
"""The kafka-python anchor of bench/serve_bench.sh's throughput phase (run with the venv's
python, scripts/python-env.sh).

    kafka_python_consumer.py BOOTSTRAP TOPIC N TIMEOUT_S

No group (assign every partition, seek to the beginning, as tests/interop's read_topic),
read_committed, values left undecoded; polls until it has N records or TIMEOUT_S passed.
Prints the count; exits 1 when it stopped short.
"""
import sys
import time

from kafka import KafkaConsumer, TopicPartition

bootstrap, topic, want, timeout_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                  auto_offset_reset="earliest", isolation_level="read_committed",
                  client_id="serve-bench")
deadline = time.monotonic() + timeout_s
parts = c.partitions_for_topic(topic)
while not parts and time.monotonic() < deadline:
    time.sleep(0.1)
    c.topics()  # forces a metadata refresh
    parts = c.partitions_for_topic(topic)
tps = [TopicPartition(topic, p) for p in sorted(parts or [])]
c.assign(tps)
c.seek_to_beginning(*tps)
n = 0
while tps and n < want and time.monotonic() < deadline:
    for batch in c.poll(timeout_ms=1000).values():
        n += len(batch)
c.close()
print(n)
sys.exit(0 if n == want else 1)
