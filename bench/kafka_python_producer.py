#!/usr/bin/env python3
"""The founding document's producer, as a benchmark contender (bench/produce_bench.sh).

    kafka_python_producer.py BOOTSTRAP TOPIC INPUT_FILE

Same code pattern as the founding document: KafkaProducer with a json.dumps value
serializer, producer.send(TOPIC, value=message) for each line, then flush() and close().
The one change: acks='all' (kafka-python's default is acks=1), so that every contender waits
for the same acknowledgement. No per-message future.get(): that would make it one round
trip per message, far slower, and the benchmark measures the streaming pattern.
Prints "sent N" on stdout.
"""
import json
import sys

from kafka import KafkaProducer

bootstrap, topic, path = sys.argv[1:4]

producer = KafkaProducer(
    bootstrap_servers=[bootstrap],
    value_serializer=lambda v: json.dumps(v).encode("utf-8"),
    acks="all",
)
sent = 0
with open(path, encoding="utf-8") as f:
    for line in f:
        producer.send(topic, value=line.rstrip("\n"))
        sent += 1
producer.flush()
producer.close()
print(f"sent {sent}")
