"""Running speedlayer the way a rendered Deployment runs it, without Docker or Kubernetes.

Pod(root, secrets, deployment) lays out the container of a Deployment of deploy/base under
`root`: ConfigMap and Secret volumes become files (Secrets from the stand-ins the test
passes), emptyDirs become directories, and the paths in env and args point at them. The
process then gets the image's ENTRYPOINT (speedlayer) with the Deployment's args, only the
Deployment's env plus what a container runtime sets (PATH, HOSTNAME, HOME), no stdin, no
terminal (a new session, output to files), and a working directory that must stay untouched
(the pod's root filesystem is read-only).
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import containers, deployment_container, flag_values, one, render

# What a container runtime puts in the environment of a Debian-based image.
RUNTIME_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOME": "/nonexistent"}
SUMMARY = re.compile(r"produce: read ([\d,]+), delivered ([\d,]+), failed ([\d,]+), "
                     r"invalid ([\d,]+), dead-lettered ([\d,]+) in [^;\n]*(?:; per topic:([^\n]*))?")
CLIENT_TIMEOUT_S = 30


def num(text):
    return int(text.replace(",", ""))


def speedlayer_binary():
    b = os.environ.get("SPEEDLAYER_BIN") or str(Path(__file__).resolve().parents[2]
                                                 / "build" / "src" / "app" / "speedlayer")
    if not os.access(b, os.X_OK):
        pytest.fail("speedlayer executable not found at %s: build it or set SPEEDLAYER_BIN" % b,
                    pytrace=False)
    return b


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pod:
    """One container of a rendered Deployment, laid out under a directory."""

    def __init__(self, root, secrets, deployment):
        docs = render("base")
        self.docs = docs
        self.name = deployment
        self.dep, self.spec, self.container = deployment_container(docs, deployment)
        assert len(containers(self.spec)) == 1, "%s: more than one container" % deployment
        self.grace = self.spec.get("terminationGracePeriodSeconds", 30)
        self.memory_limit = self.container["resources"]["limits"]["memory"]
        self.root = root
        self.mounts = {}
        for vm in self.container.get("volumeMounts") or []:
            vol = next(v for v in self.spec["volumes"] if v["name"] == vm["name"])
            d = root / "volumes" / vm["name"]
            d.mkdir(parents=True)
            if "configMap" in vol:
                data = one(docs, "ConfigMap", vol["configMap"]["name"])["data"]
                items = vol["configMap"].get("items") or [{"key": k, "path": k} for k in data]
                for it in items:
                    (d / it["path"]).write_text(data[it["key"]])
            elif "secret" in vol:
                name = vol["secret"]["secretName"]
                assert name in secrets, "the test has no stand-in for Secret %s" % name
                items = vol["secret"].get("items") or [{"key": k, "path": k} for k in secrets[name]]
                for it in items:
                    (d / it["path"]).write_text(secrets[name][it["key"]])
            else:
                assert "emptyDir" in vol, "volume %s: only configMap, secret, emptyDir here" % vm["name"]
            self.mounts[vm["mountPath"].rstrip("/")] = d
        self.workdir = root / "workdir"   # the image's WORKDIR: read-only in the pod
        self.workdir.mkdir()
        self.env = {}
        for e in self.container.get("env") or []:
            assert "value" in e, "env %s comes from valueFrom: not reproduced here" % e["name"]
            self.env[e["name"]] = self.remap(e["value"])
        self.args = [self.remap(str(a)) for a in self.container.get("args") or []]
        self.proc = None

    def remap(self, value):
        """A path in the pod -> where that file is here; also the value of `key=path`
        (e.g. -X ssl.key.location=/etc/...)."""
        for mp in sorted(self.mounts, key=len, reverse=True):
            if value == mp or value.startswith(mp + "/"):
                return str(self.mounts[mp]) + value[len(mp):]
        key, eq, path = value.partition("=")
        if eq and path.startswith("/") and self.remap(path) != path:
            return key + eq + self.remap(path)
        return value

    def start(self, env=None, args=None):
        full_env = dict(RUNTIME_ENV)
        full_env["HOSTNAME"] = "%s-6c9d8f7b5-x2x7q" % self.name
        full_env.update(self.env if env is None else env)
        self.out_path, self.err_path = self.root / "stdout", self.root / "stderr"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [speedlayer_binary()] + (self.args if args is None else args),
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=self.workdir, env=full_env,
                start_new_session=True)

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def stdout(self):
        return self.out_path.read_text(errors="replace")

    def assert_running(self):
        assert self.proc.poll() is None, "%s exited by itself (exit %s):\n%s" % (
            self.name, self.proc.returncode, self.stderr()[-4000:])

    def run_for(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.assert_running()
            time.sleep(0.1)

    def terminate(self):
        """SIGTERM as the kubelet sends it; wait a little past the grace period (the kubelet
        would SIGKILL then) so that a late exit is reported with its time.
        Returns (exit code, seconds from SIGTERM to exit, max RSS in bytes)."""
        self.proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        while time.monotonic() - t0 < self.grace + 10:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                took = time.monotonic() - t0
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                return self.proc.returncode, took, usage.ru_maxrss * 1024
            time.sleep(0.02)
        self.kill()
        raise AssertionError("%s did not exit within %ss of SIGTERM:\n%s"
                             % (self.name, self.grace + 10, self.stderr()[-4000:]))

    def kill(self):
        if self.proc is not None and self.proc.returncode is None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def check_workdir_untouched(self):
        assert not list(self.workdir.iterdir()), "%s wrote %s into its working directory " \
            "(read-only in the pod)" % (self.name, [p.name for p in self.workdir.iterdir()])


def check_producer_stopped_cleanly(pod, code, took, label):
    """Exit 0 within the grace period, read == delivered, nothing failed or dead-lettered,
    nothing written outside the volumes. Returns (delivered, per-topic counts)."""
    stderr = pod.stderr()
    assert code == 0, "%s: exit %s after SIGTERM:\n%s" % (label, code, stderr[-4000:])
    assert took < pod.grace, "%s: took %.1fs to stop, the grace period is %ss" % (label, took, pod.grace)
    m = SUMMARY.search(stderr)
    assert m, "%s: no summary line on stderr:\n%s" % (label, stderr[-4000:])
    read, delivered, failed, invalid, dead = (num(m.group(i)) for i in range(1, 6))
    assert read > 0, "%s: nothing was read" % label
    assert (read, failed, invalid, dead) == (delivered, 0, 0, 0), "%s: %s" % (label, m.group(0))
    per_topic = {}
    for item in (m.group(6) or "").split():
        t, _, n = item.rpartition("=")
        per_topic[t] = num(n)
    assert sum(per_topic.values()) == delivered, "%s: per-topic counts do not add up: %s" % (
        label, m.group(0))
    dl = Path(pod.remap((flag_values(pod.container["args"], "--dead-letter") or ["/nonexistent"])[0]))
    assert not dl.exists() or dl.stat().st_size == 0, "%s: dead-letter file has:\n%s" % (
        label, dl.read_text()[:2000])
    pod.check_workdir_untouched()
    return delivered, per_topic


# ----------------------------------------------------------------------------------------
# Kafka helpers (kafka-python, the test suites' independent client)


def _client_kwargs(security=None):
    kw = dict(api_version_auto_timeout_ms=10000, request_timeout_ms=CLIENT_TIMEOUT_S * 1000)
    kw.update(security or {})
    return kw


def topic_end_offsets(bootstrap, topics):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=bootstrap.split(","), **_client_kwargs())
    try:
        out = {}
        for t in topics:
            parts = c.partitions_for_topic(t) or set()
            tps = [TopicPartition(t, p) for p in parts]
            out[t] = sum(c.end_offsets(tps).values()) if tps else 0
        return out
    finally:
        c.close()


def ensure_topics(bootstrap, topics):
    """topics: {name: (partitions, config dict)}; created unless they exist, then awaited."""
    from kafka import KafkaAdminClient, KafkaConsumer
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), **_client_kwargs())
    try:
        for t, (parts, config) in topics.items():
            try:
                admin.create_topics([NewTopic(t, num_partitions=parts, replication_factor=1,
                                              topic_configs={k: str(v) for k, v in config.items()})],
                                    timeout_ms=CLIENT_TIMEOUT_S * 1000)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while True:
        c = KafkaConsumer(bootstrap_servers=bootstrap.split(","), **_client_kwargs())
        try:
            if all(c.partitions_for_topic(t) for t in topics):
                return
        finally:
            c.close()
        assert time.monotonic() < deadline, "topics %s not visible after %ss" % (
            sorted(topics), CLIENT_TIMEOUT_S)
        time.sleep(0.5)


def http_get(port, path, timeout=5):
    """(status, body) of GET http://127.0.0.1:port/path; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except OSError:
        return 0, ""


def metric(text, name):
    """Sum of the samples of a Prometheus metric in /metrics output."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def views_json(body):
    try:
        return json.loads(body)
    except ValueError:
        return None
