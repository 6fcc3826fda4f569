"""The producer and serve run the way their Deployments run them (CTest: deploy_pod_run,
label integration).

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

serve, with its listeners (--listen, --probe-listen) on free local ports: the kubelet's probes
and the Prometheus scrape, fetched at the ports the manifest names, answer there, also while
API clients hold the API listener's connections; the probe listener serves nothing else; the
API is on the port the Service targets; POST /v1/expire is off, and in the admin overlay it
needs the token from the mounted Secret.
"""

import json
import os
import re
import secrets
import socket
import time
from pathlib import Path

import pytest
import yaml

from conftest import flag_values, quantity
from podrun import (Pod, check_producer_stopped_cleanly, ensure_topics, http_get, http_request,
                    manifest_topics, topic_end_offsets, wait_ready)

pytestmark = pytest.mark.integration

PRODUCER = "speedlayer-producer"
SERVE = "speedlayer-serve"
SECRETS = {
    # Stand-ins for the Secrets the operators make (not used against a plaintext broker).
    "speedlayer-producer": {"user.crt": "not used here\n", "user.key": "not used here\n"},
    "speedlayer-serve": {"user.crt": "not used here\n", "user.key": "not used here\n"},
    "my-cluster-cluster-ca-cert": {"ca.crt": "not used here\n"},
}
# API clients holding connections while the probes are fetched: idle connections (no request
# sent) and live-page streams (GET /v1/stream, Server-Sent Events).
IDLE_CLIENTS = 128
STREAM_CLIENTS = 8


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


# ----------------------------------------------------------------------------------------
# serve


def start_serve(tmp_path, bootstrap, variant="base", extra_secrets=None):
    pod = Pod(tmp_path, dict(SECRETS, **(extra_secrets or {})), SERVE, variant)
    assert pod.args[0] == "serve"
    ensure_topics(bootstrap, manifest_topics(pod.docs))   # the Topic Operator's part
    args = pod.bind_locally(without_tls(pod.args))
    pod.start(env=plaintext(pod.env, bootstrap), args=args)
    try:
        wait_ready(pod)
    except BaseException:
        pod.kill()   # the test never gets the pod to stop
        raise
    return pod


def stop_serve(pod, label):
    code, took, _ = pod.terminate()
    assert code == 0, "%s: serve exit %s after SIGTERM:\n%s" % (label, code, pod.stderr()[-3000:])
    assert took < pod.grace, "%s: serve took %.1fs to stop, the grace period is %ss" % (
        label, took, pod.grace)
    pod.check_workdir_untouched()


def open_stream(port):
    """A live-page client: GET /v1/stream, kept open."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /v1/stream HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
    return s


def test_serve_deployment_probes_on_their_own_listener(tmp_path, bootstrap):
    pod = start_serve(tmp_path, bootstrap)   # ready: the manifest's readinessProbe answered 200
    clients = []
    try:
        live_port, live_path = pod.probe("livenessProbe")
        ready_port, ready_path = pod.probe("readinessProbe")
        scrape_port, scrape_path = pod.scrape()
        api = pod.service_port()
        assert live_port == ready_port == scrape_port != api, \
            "probes, scrape and API ports: %s %s %s %s" % (live_port, ready_port, scrape_port, api)
        assert http_get(live_port, live_path)[0] == 200
        status, body = http_get(scrape_port, scrape_path)
        assert status == 200 and "speedlayer_" in body, "scrape: %s %s" % (status, body[:300])
        # The probe listener serves probes and metrics only.
        for path in ("/v1/views?topic=Sport", "/v1/topics", "/"):
            status, _ = http_get(ready_port, path)
            assert status != 200, "the probe listener answers %s with 200" % path
        # The API, where the Service sends clients; health and metrics answer there too.
        for path in ("/v1/views?topic=Sport", "/", "/healthz", "/readyz", "/metrics"):
            status, body = http_get(api, path)
            assert status == 200, "API %s: %s %s" % (path, status, body[:300])
        # POST /v1/expire is off without --admin-token-file.
        status, body = http_request(api, "/v1/expire?before=1", "POST",
                                    {"Content-Type": "application/json"})
        assert 400 <= status < 500, "POST /v1/expire without the admin overlay: %s %s" % (
            status, body[:300])

        # API clients hold connections: the kubelet's probes still answer within their timeout.
        for _ in range(STREAM_CLIENTS):
            clients.append(open_stream(api))
        for _ in range(IDLE_CLIENTS):
            try:
                clients.append(socket.create_connection(("127.0.0.1", api), timeout=5))
            except OSError:
                break   # the API refuses more: that is its budget, not the probes'
        time.sleep(0.5)
        for kind in ("livenessProbe", "readinessProbe"):
            port, path = pod.probe(kind)
            timeout = pod.container[kind].get("timeoutSeconds", 1)
            t0 = time.monotonic()
            status, _ = http_get(port, path, timeout=timeout)
            took = time.monotonic() - t0
            assert status == 200, "%s %s with %d API connections open: %s after %.2fs (the " \
                "kubelet gives it %ss)" % (kind, path, len(clients), status or "no answer", took, timeout)
        status, _ = http_get(scrape_port, scrape_path, timeout=10)
        assert status == 200, "scrape with %d API connections open: %s" % (len(clients), status)
        pod.assert_running()
        # SIGTERM with live-page streams still open, as when a browser has the page open.
        stop_serve(pod, "with %d API connections open" % len(clients))
    finally:
        for c in clients:
            c.close()
        pod.kill()


def test_admin_overlay_expire_needs_the_mounted_token(tmp_path, bootstrap):
    token = secrets.token_hex(32)
    pod = start_serve(tmp_path, bootstrap, "admin", {"speedlayer-admin": {"token": token}})
    try:
        api = pod.service_port()
        path = "/v1/expire?before=1"   # nothing is older: expires nothing
        json_type = {"Content-Type": "application/json"}
        for label, headers in (("no Authorization", json_type),
                               ("a wrong token", dict(json_type, Authorization="Bearer " + "0" * 64)),
                               ("not a bearer token", dict(json_type, Authorization=token))):
            status, body = http_request(api, path, "POST", headers)
            assert status in (401, 403), "POST %s with %s: %s %s" % (path, label, status, body[:300])
        status, body = http_request(api, path, "POST",
                                    dict(json_type, Authorization="Bearer " + token))
        assert status == 200, "POST %s with the token: %s %s\n%s" % (path, status, body[:300],
                                                                     pod.stderr()[-2000:])
        assert "expired" in json.loads(body), body
        # The probe listener has no admin endpoint.
        status, _ = http_request(pod.probe("readinessProbe")[0], path, "POST",
                                 dict(json_type, Authorization="Bearer " + token))
        assert status != 200, "the probe listener accepts POST /v1/expire"
        stop_serve(pod, "admin overlay")
        assert token not in pod.stdout() + pod.stderr(), "serve printed the admin token"
    finally:
        pod.kill()
