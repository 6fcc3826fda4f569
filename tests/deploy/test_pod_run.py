"""The producer run the way its Deployment runs it (CTest: deploy_pod_run, label integration).

Docker does not run on these machines, so the container is reproduced from the rendered
manifest (podrun.Pod): the Deployment's args and env only, its volumes as files, no stdin,
no terminal. KAFKA_BROKERS points at the plaintext test broker (CTest fixture kafka_single),
so the TLS settings (protocol, CA, client certificate) are replaced by
KAFKA_SECURITY_PROTOCOL=plaintext here; test_pod_secure.py runs the unmodified settings
against a broker with mutual TLS and ACLs.

Then, as Kubernetes stops a pod: SIGTERM, and the process must exit 0 within
terminationGracePeriodSeconds with every message it read delivered (summary line:
read == delivered, nothing failed or dead-lettered), and the topics' end offsets grown by
exactly the per-topic counts it reports. A second run at full rate (the Deployment's args
without --rate) must stay under the container's memory limit.
"""

import os
import re
from pathlib import Path

import pytest
import yaml

from conftest import flag_values, quantity
from podrun import (Pod, check_producer_stopped_cleanly, ensure_topics, topic_end_offsets)

pytestmark = pytest.mark.integration

PRODUCER = "speedlayer-producer"
SECRETS = {
    # Stand-ins for the Secrets the operators make (not used against a plaintext broker).
    "speedlayer-producer": {"user.crt": "not used here\n", "user.key": "not used here\n"},
    "my-cluster-cluster-ca-cert": {"ca.crt": "not used here\n"},
}


@pytest.fixture(scope="module")
def bootstrap():
    state = os.environ.get("SPEEDLAYER_KAFKA_STATE")
    if not state:
        pytest.fail("SPEEDLAYER_KAFKA_STATE is not set: run with 'ctest -R deploy_pod_run' (it "
                    "starts the broker), or point it at a directory whose single/bootstrap holds "
                    "a running broker's host:port", pytrace=False)
    path = Path(state) / "single" / "bootstrap"
    try:
        return path.read_text().split()[0].strip()
    except (OSError, IndexError):
        pytest.fail("no broker address in %s: start the broker first "
                    "(scripts/kafka-broker.sh start --dir %s --brokers 1)" % (path, path.parent),
                    pytrace=False)


def plaintext(env, bootstrap):
    """The Deployment's env pointed at the plaintext test broker."""
    env = {k: v for k, v in env.items() if not re.match(r"KAFKA_(SASL|SSL)_", k)}
    env["KAFKA_BROKERS"] = bootstrap
    env["KAFKA_SECURITY_PROTOCOL"] = "plaintext"
    return env


def without_tls(args):
    """The Deployment's args without the -X ssl.* client certificate settings."""
    out, skip = [], False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a == "-X" and i + 1 < len(args) and args[i + 1].startswith("ssl."):
            skip = True
            continue
        out.append(a)
    return out


def producer_topics(pod):
    # The routes file from the ConfigMap, where the pod sees it, plus the default topic.
    routes = yaml.safe_load(Path(pod.env["SPEEDLAYER_ROUTES"]).read_text())
    return sorted({r["topic"] for r in routes["routes"]} | {pod.env["KAFKA_TOPIC"]})


def test_producer_deployment_stops_cleanly_on_sigterm(tmp_path, bootstrap):
    pod = Pod(tmp_path, SECRETS, PRODUCER)
    assert pod.args[0] == "produce" and "--generate" in pod.args
    topics = producer_topics(pod)
    ensure_topics(bootstrap, {t: (3, {}) for t in topics})
    before = topic_end_offsets(bootstrap, topics)
    try:
        pod.start(env=plaintext(pod.env, bootstrap), args=without_tls(pod.args))
        pod.run_for(6)
        code, took, rss = pod.terminate()
    finally:
        pod.kill()
    delivered, per_topic = check_producer_stopped_cleanly(pod, code, took, "at the Deployment's rate")
    rate = float((flag_values(pod.args, "--rate") or ["0"])[0])
    assert delivered >= rate * 3, "only %d delivered in 6 s at --rate %s" % (delivered, rate)
    # Every routed topic got messages, and the broker holds exactly what was reported.
    assert set(per_topic) == set(topics), per_topic
    after = topic_end_offsets(bootstrap, topics)
    grown = {t: after[t] - before[t] for t in topics}
    assert grown == per_topic, "end offsets grew by %s, the producer reported %s" % (grown, per_topic)
    assert rss < quantity(pod.memory_limit), "max RSS %d MiB over the limit %s" % (
        rss >> 20, pod.memory_limit)


def test_producer_deployment_at_full_rate_stays_under_its_memory_limit(tmp_path, bootstrap):
    """The Deployment's args without --rate, as fast as the broker takes it. Outside a
    container there is no cgroup limit to size from, so the limit the pod would have is
    passed with --memory-limit (inside the pod the producer reads it from its cgroup)."""
    pod = Pod(tmp_path, SECRETS, PRODUCER)
    args = without_tls(pod.args)
    if "--rate" in args:
        i = args.index("--rate")
        del args[i:i + 2]
    args += ["--memory-limit", pod.memory_limit]
    topics = producer_topics(pod)
    ensure_topics(bootstrap, {t: (3, {}) for t in topics})
    before = topic_end_offsets(bootstrap, topics)
    try:
        pod.start(env=plaintext(pod.env, bootstrap), args=args)
        pod.run_for(4)
        code, took, rss = pod.terminate()
    finally:
        pod.kill()
    delivered, per_topic = check_producer_stopped_cleanly(pod, code, took, "at full rate")
    after = topic_end_offsets(bootstrap, topics)
    assert {t: after[t] - before[t] for t in topics} == per_topic
    limit = quantity(pod.memory_limit)
    assert rss < limit, "max RSS %d MiB at full rate (%d messages), the pod's limit is %s" % (
        rss >> 20, delivered, pod.memory_limit)
    print("full rate: %d messages in 4 s, max RSS %.1f MiB (limit %s), stopped in %.2f s"
          % (delivered, rss / 2 ** 20, pod.memory_limit, took))
