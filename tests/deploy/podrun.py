"""Running speedlayer the way a rendered Deployment runs it, without Docker or Kubernetes.

Pod(root, secrets, deployment) lays out the container of a Deployment of deploy/base under
`root`: ConfigMap and Secret volumes become files (Secrets from the stand-ins the test
passes), emptyDirs become directories, and the paths in env and args point at them. The
process then gets the image's ENTRYPOINT (speedlayer) with the Deployment's args, only the
Deployment's env plus what a container runtime sets (PATH, HOSTNAME, HOME), no stdin, no
terminal (a new session, output to files), and a working directory that must stay untouched
(the pod's root filesystem is read-only).

The HTTP listeners of the args (--listen, --probe-listen: 0.0.0.0:<container port> in the
pod) move to free ports on 127.0.0.1 (Pod.bind_locally); the probes and the Prometheus scrape
are then fetched where the manifest points them: the container port a probe names, mapped to
the local port of the listener bound to it (Pod.probe, Pod.local_port).
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

from conftest import containers, deployment_container, flag_values, of_kind, one, render

# What a container runtime puts in the environment of a Debian-based image.
RUNTIME_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOME": "/nonexistent"}
# serve's flags that bind HTTP listeners (HOST:PORT).
LISTEN_FLAGS = ("--listen", "--probe-listen")
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

    def __init__(self, root, secrets, deployment, variant="base"):
        docs = render(variant)
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
        self.local_ports = {}   # container port -> local port (bind_locally)
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

    def bind_locally(self, args):
        """`args` with each HTTP listener (LISTEN_FLAGS) moved from the pod's HOST:PORT to
        127.0.0.1:<a free port>; remembers container port -> local port."""
        out = list(args)
        for i, a in enumerate(out):
            for flag in LISTEN_FLAGS:
                if a == flag and i + 1 < len(out):
                    j, value = i + 1, out[i + 1]
                elif a.startswith(flag + "="):
                    j, value = i, a.split("=", 1)[1]
                else:
                    continue
                port = int(value.rpartition(":")[2])
                assert port not in self.local_ports, "%s: two listeners on port %d" % (self.name, port)
                self.local_ports[port] = free_port()
                local = "127.0.0.1:%d" % self.local_ports[port]
                out[j] = local if j == i + 1 else "%s=%s" % (flag, local)
        return out

    def container_port(self, ref):
        """A port as a manifest names it (a number, or the name of a container port)."""
        if isinstance(ref, int) or str(ref).isdigit():
            return int(ref)
        for p in self.container.get("ports") or []:
            if p.get("name") == ref:
                return p["containerPort"]
        raise AssertionError("%s declares no container port named %r" % (self.name, ref))

    def local_port(self, ref):
        """Where a container port of the pod answers here (after bind_locally)."""
        port = self.container_port(ref)
        assert port in self.local_ports, "%s: port %s (%s) is not bound by any of %s in its args" % (
            self.name, ref, port, ", ".join(LISTEN_FLAGS))
        return self.local_ports[port]

    def service_port(self):
        """The local port of the container port the pod's Service sends traffic to (the API)."""
        labels = self.dep["spec"]["template"]["metadata"]["labels"]
        for svc in of_kind(self.docs, "Service"):
            sel = svc["spec"].get("selector") or {}
            if sel and all(labels.get(k) == v for k, v in sel.items()):
                sp = svc["spec"]["ports"][0]
                return self.local_port(sp.get("targetPort", sp["port"]))
        raise AssertionError("no Service selects %s" % self.name)

    def probe(self, kind):
        """(local port, path) of the manifest's httpGet probe `kind` (e.g. readinessProbe)."""
        get = (self.container.get(kind) or {}).get("httpGet")
        assert get, "%s has no httpGet %s" % (self.name, kind)
        return self.local_port(get["port"]), get.get("path", "/")

    def scrape(self):
        """(local port, path) where Prometheus scrapes the pod (prometheus.io/* annotations)."""
        ann = self.dep["spec"]["template"]["metadata"].get("annotations") or {}
        assert ann.get("prometheus.io/scrape") == "true", "%s is not scraped" % self.name
        return self.local_port(ann["prometheus.io/port"]), ann.get("prometheus.io/path", "/metrics")

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
    return http_request(port, path, timeout=timeout)


def http_request(port, path, method="GET", headers=None, timeout=5):
    """(status, body) of a request to http://127.0.0.1:port/path; 0 when nothing answers."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 headers=headers or {}, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except OSError:
        return 0, ""


def wait_ready(pod, timeout=120):
    """Polls the manifest's readiness probe until it answers 200, as the kubelet does."""
    port, path = pod.probe("readinessProbe")
    deadline = time.monotonic() + timeout
    while http_get(port, path)[0] != 200:
        pod.assert_running()
        assert time.monotonic() < deadline, "%s not ready after %d s: %s on the probe port %s\n%s" % (
            pod.name, timeout, path, http_get(port, path), pod.stderr()[-3000:])
        time.sleep(0.5)


def manifest_topics(docs):
    """The KafkaTopics of the manifests: {topic name: (partitions, config)}."""
    out = {}
    for t in of_kind(docs, "KafkaTopic"):
        spec = t["spec"]
        out[spec.get("topicName") or t["metadata"]["name"]] = (spec.get("partitions", 1),
                                                               spec.get("config") or {})
    return out


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
