#!/usr/bin/env python3
"""Topic and group admin of the benches (bench/lib.sh), through kafka-python: one process for
many topics (Kafka's Java TopicCommand costs a JVM start per call). Run it with the venv's
python (scripts/python-env.sh).

    bench_admin.py create BOOTSTRAP PARTITIONS REPLICATION TOPIC...
        Creates the topics and returns once every partition of each has a leader (exit 1
        after 60 s without).
    bench_admin.py delete BOOTSTRAP TOPIC...
        Deletes those of the topics that exist (a name that is not there is no error: a run
        that stopped early never created it).
    bench_admin.py delete-prefix BOOTSTRAP PREFIX
        Deletes every topic whose name starts with PREFIX (the bench's own names, the
        changelog and output topics serve created included).
    bench_admin.py committed BOOTSTRAP GROUP TOPIC
        Prints the sum of GROUP's committed offsets on TOPIC's partitions (0 when none).
"""
import sys
import time

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic


def create(admin, partitions, replication, *topics):
    partitions, replication = int(partitions), int(replication)
    admin.create_topics([NewTopic(t, partitions, replication) for t in topics])
    deadline = time.monotonic() + 60
    while True:
        described = admin.describe_topics(list(topics))
        if all(d["error_code"] == 0 and len(d["partitions"]) == partitions
               and all(p["leader"] >= 0 for p in d["partitions"]) for d in described):
            return
        if time.monotonic() > deadline:
            sys.exit(f"topics not ready after 60 s: {described}")
        time.sleep(0.2)


def delete(admin, *topics):
    existing = set(admin.list_topics())
    todo = [t for t in topics if t in existing]
    if todo:
        admin.delete_topics(todo)


def delete_prefix(admin, prefix):
    todo = [t for t in admin.list_topics() if t.startswith(prefix)]
    if todo:
        admin.delete_topics(todo)


def committed(admin, group, topic):
    offsets = admin.list_consumer_group_offsets(group)
    print(sum(m.offset for tp, m in offsets.items()
              if isinstance(tp, TopicPartition) and tp.topic == topic and m.offset >= 0))


COMMANDS = {"create": create, "delete": delete, "delete-prefix": delete_prefix,
            "committed": committed}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    admin = KafkaAdminClient(bootstrap_servers=sys.argv[2], client_id="speedlayer-bench")
    try:
        COMMANDS[sys.argv[1]](admin, *sys.argv[3:])
    finally:
        admin.close()
