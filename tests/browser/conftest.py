"""Fixtures for the live-page browser test: the broker, speedlayer serve, headless Chromium.

The broker comes from CTest's kafka_single fixture: its bootstrap address is the first line of
$SPEEDLAYER_KAFKA_STATE/single/bootstrap. The speedlayer executable is $SPEEDLAYER_BIN.
Chromium and chromedriver are Debian's (/usr/bin/chromium, /usr/bin/chromedriver; override
with $SPEEDLAYER_CHROMIUM, $SPEEDLAYER_CHROMEDRIVER): nothing is downloaded. Screenshots go to
$SPEEDLAYER_BROWSER_OUT (CTest: <build>/browser). Every wait has a deadline.
"""

import os
import re
import signal
import socket
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

REPO = Path(__file__).resolve().parents[2]

CLIENT_TIMEOUT_S = 30   # one Kafka admin call
PROCESS_TIMEOUT_S = 60  # one speedlayer produce run
SERVE_START_S = 60      # serve printing its HTTP address
SERVE_STOP_S = 30       # serve exiting after SIGTERM

# Environment that would change speedlayer's settings behind the test's back.
_SETTINGS_ENV = re.compile(r"^(KAFKA_.*|BOOTSTRAP_SERVERS|SPEEDLAYER_ROUTES|SPEEDLAYER_CONFIG)$")
_HTTP_LINE = re.compile(r"speedlayer serve: HTTP on (http://[0-9.]+:\d+)")


def unique(name):
    """A topic or group name no other test or run uses."""
    return "browser-%s-%s" % (name, uuid.uuid4().hex[:12])


def clean_env():
    return {k: v for k, v in os.environ.items() if not _SETTINGS_ENV.match(k)}


@pytest.fixture(scope="session")
def bootstrap():
    """host:port[,...] of the test broker; fails fast when it is not there."""
    state = os.environ.get("SPEEDLAYER_KAFKA_STATE")
    if not state:
        pytest.fail(
            "SPEEDLAYER_KAFKA_STATE is not set: run this test with 'ctest -R browser_live_page' "
            "(it starts the broker), or point SPEEDLAYER_KAFKA_STATE at a directory whose "
            "single/bootstrap file holds a running broker's host:port", pytrace=False)
    path = Path(state) / "single" / "bootstrap"
    try:
        servers = path.read_text().split()[0].strip()
    except (OSError, IndexError):
        pytest.fail("no broker address in %s: start the broker first (ctest runs "
                    "kafka_single_start; by hand: scripts/kafka-broker.sh start --dir %s "
                    "--brokers 1)" % (path, Path(state) / "single"), pytrace=False)
    host, _, port = servers.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            pass
    except (OSError, ValueError) as e:
        pytest.fail("Kafka broker from %s is not reachable (%s): is it running?" % (path, e),
                    pytrace=False)
    return servers


@pytest.fixture(scope="session")
def speedlayer_bin():
    b = os.environ.get("SPEEDLAYER_BIN") or str(REPO / "build" / "src" / "app" / "speedlayer")
    if not os.access(b, os.X_OK):
        pytest.fail("speedlayer executable not found at %s: build it (cmake --build build) or "
                    "set SPEEDLAYER_BIN" % b, pytrace=False)
    return os.path.abspath(b)  # the children run in their own directories


@pytest.fixture(scope="session")
def out_dir(tmp_path_factory):
    """Where screenshots go: $SPEEDLAYER_BROWSER_OUT, else a pytest tmp dir."""
    d = os.environ.get("SPEEDLAYER_BROWSER_OUT")
    path = Path(d) if d else tmp_path_factory.mktemp("browser-out")
    path.mkdir(parents=True, exist_ok=True)
    return path


def create_topics(bootstrap, topics, partitions=1):
    """Create the topics and wait until metadata shows them (no race with serve's consumer)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","),
                             request_timeout_ms=CLIENT_TIMEOUT_S * 1000,
                             api_version_auto_timeout_ms=10000)
    try:
        admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1)
                             for t in topics], timeout_ms=CLIENT_TIMEOUT_S * 1000)
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","),
                             api_version_auto_timeout_ms=10000,
                             request_timeout_ms=CLIENT_TIMEOUT_S * 1000)
    try:
        ready = threading.Event()
        for _ in range(150):  # metadata refreshes, 0.2 s apart: at most CLIENT_TIMEOUT_S
            if all(consumer.partitions_for_topic(t) for t in topics):
                return
            ready.wait(0.2)
            consumer.topics()  # forces a metadata refresh
        raise AssertionError("topics %s have no partitions after %ss" % (topics, CLIENT_TIMEOUT_S))
    finally:
        consumer.close()


class Serve:
    """`speedlayer serve` as a child process; its stderr is drained by a thread (kept for
    failure messages), and `url` is the address it prints once listening."""

    def __init__(self, args, env, cwd):
        self.lines = []
        self.url = None
        self._listening = threading.Event()
        self.proc = subprocess.Popen(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            m = _HTTP_LINE.search(line)
            if m and self.url is None:
                self.url = m.group(1)
                self._listening.set()
        self._listening.set()  # exited: wake the waiter

    def stderr(self, last=60):
        return "\n".join(self.lines[-last:])

    def wait_listening(self, timeout):
        if not self._listening.wait(timeout) or self.url is None:
            raise AssertionError("speedlayer serve printed no 'HTTP on' line within %ss (exit %s); "
                                 "stderr:\n%s" % (timeout, self.proc.poll(), self.stderr()))
        return self.url

    def assert_running(self):
        code = self.proc.poll()
        assert code is None, "speedlayer serve exited (%s); stderr:\n%s" % (code, self.stderr())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(SERVE_STOP_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)


@pytest.fixture
def start_serve(speedlayer_bin, tmp_path):
    """start_serve(args) -> Serve, listening; stopped (SIGTERM) at the end of the test."""
    started = []

    def start(args):
        s = Serve([speedlayer_bin, "serve"] + list(args), clean_env(), tmp_path)
        started.append(s)
        s.wait_listening(SERVE_START_S)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def produce(speedlayer_bin, bootstrap, tmp_path):
    """produce(topic, lines): `speedlayer produce --sync` of text lines, every one delivered."""
    routes = tmp_path / "no-routes.yaml"
    routes.write_text("routes: []\n")

    def run(topic, lines):
        dead = tmp_path / ("dead-letter-%s.jsonl" % uuid.uuid4().hex[:8])
        args = [speedlayer_bin, "produce", "--brokers", bootstrap, "--topic", topic,
                "--routes", str(routes), "--format", "text", "--sync", "--dead-letter", str(dead)]
        try:
            p = subprocess.run(args, input="".join(l + "\n" for l in lines).encode("utf-8"),
                               env=clean_env(), cwd=tmp_path, capture_output=True,
                               timeout=PROCESS_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            pytest.fail("speedlayer produce did not finish within %ss; stderr:\n%s"
                        % (PROCESS_TIMEOUT_S, (e.stderr or b"").decode("utf-8", "replace")))
        out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
        assert p.returncode == 0, "speedlayer produce exit %s:\n%s\n%s" % (p.returncode, out, err)
        delivered = re.findall(r"(?m)^delivered topic=(\S+) ", out)
        assert delivered == [topic] * len(lines), \
            "expected %d deliveries to %s:\n%s\n%s" % (len(lines), topic, out[-2000:], err[-2000:])
        assert not dead.exists() or dead.stat().st_size == 0, dead.read_text()[:2000]

    return run


@pytest.fixture
def browser():
    """Headless Chromium (Debian's) with its console captured (goog:loggingPrefs)."""
    chromium = os.environ.get("SPEEDLAYER_CHROMIUM", "/usr/bin/chromium")
    driver_path = os.environ.get("SPEEDLAYER_CHROMEDRIVER", "/usr/bin/chromedriver")
    for tool in (chromium, driver_path):
        if not os.access(tool, os.X_OK):
            pytest.fail("%s not found: apt-get install chromium chromium-driver" % tool,
                        pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1800", "--lang=en-US", "--no-first-run",
                "--disable-extensions", "--disable-background-networking"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
