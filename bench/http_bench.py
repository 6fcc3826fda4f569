#!/usr/bin/env python3
"""serve's HTTP face under abuse (issue 14): figures for bench/README.md ("http_bench.py").

  bench/http_bench.py [--brokers B] [--speedlayer PATH] [--streams N] [--seconds S]
                      [--rate MSGS_PER_S] [--probes N] [--keep]

Starts a 1-node Kafka (scripts/kafka-broker.sh) unless --brokers is given, then
`speedlayer serve --listen 127.0.0.1:P --probe-listen 127.0.0.1:Q` on one topic while
`speedlayer produce --generate --rate R` feeds it, and measures, in this order:

  healthz_quiet     GET /healthz latency (probe listener, new connection each) with no abuse:
                    the anchor of the next line, same run
  healthz_abused    the same while 50 slow-header clients (one header line every 2 s) and 500
                    idle connections hold the API listener; also on the API listener itself
  upload            a 64 MiB chunked POST: the status and serve's RSS before and after
  streams           N (default 200) GET /v1/stream clients read for S seconds: serve's RSS
                    with them open, events and bytes per second received in total

Every figure is printed as key=value; the run fails (exit 1) when what it measures failed:
a probe that did not answer, a 413 missing, a stream that got no event, serve or the
producer exiting during the run or with a non-zero status on SIGTERM at the end.
Only the Python standard library is used.
"""
import argparse
import os
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


LOGS = []  # files whose tail a failure prints (the temp dir is removed)


def fail(msg):
    for path in LOGS:
        try:
            with open(path, errors="replace") as f:
                tail = f.read()[-3000:]
            print("--- %s (tail)\n%s" % (path, tail), file=sys.stderr)
        except OSError:
            pass
    print("http_bench: FAILED: " + msg, file=sys.stderr)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def http_get(port, path, timeout=2.0):
    """Status code of one GET on a new connection; None when there is no answer in time."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None
    except OSError:
        return None


def latencies(port, path, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        status = http_get(port, path)
        elapsed = time.perf_counter() - t0
        if status != 200:
            fail("GET %s on port %d answered %s" % (path, port, status))
        out.append(elapsed * 1000.0)
    return out


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def report(name, ms, anchor=None):
    line = "%s_p50_ms=%.2f %s_p99_ms=%.2f %s_max_ms=%.2f" % (
        name, pct(ms, 50), name, pct(ms, 99), name, max(ms))
    if anchor:
        line += " %s_p99_vs_quiet=%.2f" % (name, pct(ms, 99) / pct(anchor, 99))
    print(line, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--brokers")
    ap.add_argument("--speedlayer", default=os.path.join(ROOT, "build/src/app/speedlayer"))
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--probes", type=int, default=300)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="http-bench-")
    broker_dir = os.path.join(work, "kafka")
    procs = []

    def cleanup():
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        if not args.brokers:
            subprocess.run([os.path.join(ROOT, "scripts/kafka-broker.sh"), "stop", "--dir",
                            broker_dir, "--clean"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if args.keep:
            print("http_bench: kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)

    try:
        brokers = args.brokers
        if not brokers:
            out = subprocess.run([os.path.join(ROOT, "scripts/kafka-broker.sh"), "start", "--dir",
                                  broker_dir, "--brokers", "1"], check=True,
                                 stdout=subprocess.PIPE, text=True).stdout
            brokers = out.strip().splitlines()[-1]
        topic = "http-bench-%d" % os.getpid()
        api, probe = free_port(), free_port()
        if not args.brokers:
            subprocess.run([os.path.join(ROOT, "scripts/kafka-broker.sh"), "create-topic", "--dir",
                            broker_dir, "--topic", topic, "--partitions", "3"], check=True,
                           stdout=subprocess.DEVNULL)
        LOGS.append(os.path.join(work, "produce.log"))
        producer = subprocess.Popen(
            [args.speedlayer, "produce", "--brokers", brokers, "--topic", topic, "--generate",
             "--rate", str(args.rate)], stdout=subprocess.DEVNULL, stderr=open(LOGS[-1], "w"))
        procs.append(producer)
        LOGS.append(os.path.join(work, "serve.log"))
        serve_log = open(LOGS[-1], "w")
        serve = subprocess.Popen(
            [args.speedlayer, "serve", "--brokers", brokers, "--topic", topic, "--group",
             "http-bench-%d" % os.getpid(), "--window", "2s", "--grace", "1s", "--listen",
             "127.0.0.1:%d" % api, "--probe-listen", "127.0.0.1:%d" % probe],
            stderr=serve_log)
        procs.insert(0, serve)
        deadline = time.time() + 90
        while http_get(probe, "/readyz") != 200:
            if serve.poll() is not None or time.time() > deadline:
                fail("serve not ready within 90 s")
            time.sleep(0.2)
        time.sleep(3)
        print("serve_rss_start_mib=%.1f" % rss_mib(serve.pid), flush=True)

        # 1. /healthz, quiet (the anchor) and abused.
        quiet = latencies(probe, "/healthz", args.probes)
        report("healthz_quiet", quiet)
        abusers = []
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", api))
            s.sendall(b"GET /v1/topics HTTP/1.1\r\n")
            abusers.append(s)
        for _ in range(500):
            abusers.append(socket.create_connection(("127.0.0.1", api)))
        slow = abusers[:50]
        next_line = time.time() + 2
        ms_probe, ms_api = [], []
        for i in range(args.probes):
            if time.time() >= next_line:  # the slow clients' next header line
                for j, s in enumerate(slow):
                    try:
                        s.sendall(b"X-Slow-%d: 1\r\n" % i)
                    except OSError:
                        pass
                next_line = time.time() + 2
            ms_probe += latencies(probe, "/healthz", 1)
            ms_api += latencies(api, "/healthz", 1)
        report("healthz_abused_probe", ms_probe, quiet)
        report("healthz_abused_api", ms_api, quiet)
        for s in abusers:
            s.close()

        # 2. A 64 MiB chunked upload.
        before = rss_mib(serve.pid)
        s = socket.create_connection(("127.0.0.1", api))
        s.sendall(b"POST /v1/expire?before=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
        sent = 0
        s.setblocking(False)
        answer = b""
        while sent < 64 << 20 and not answer:
            try:
                answer = s.recv(4096)
            except BlockingIOError:
                pass
            try:
                sent += s.send(chunk)
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:
                break
        s.setblocking(True)
        s.settimeout(5)
        try:
            while b"\r\n" not in answer:
                more = s.recv(4096)
                if not more:
                    break
                answer += more
        except OSError:
            pass
        s.close()
        status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
        print("upload_status=%r upload_sent_mib=%.1f upload_rss_before_mib=%.1f "
              "upload_rss_after_mib=%.1f" % (status, sent / 1048576.0, before, rss_mib(serve.pid)),
              flush=True)
        if "413" not in status:
            fail("the chunked upload got %r, not 413" % status)

        # 3. N stream clients.
        before = rss_mib(serve.pid)
        sel = selectors.DefaultSelector()
        clients = []
        for _ in range(args.streams):
            c = socket.create_connection(("127.0.0.1", api))
            c.sendall(b"GET /v1/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
            c.setblocking(False)
            sel.register(c, selectors.EVENT_READ, {"events": 0, "bytes": 0})
            clients.append(c)
        t0 = time.time()
        peak = before
        while time.time() - t0 < args.seconds:
            for key, _ in sel.select(timeout=0.2):
                try:
                    data = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                key.data["bytes"] += len(data)
                key.data["events"] += data.count(b"\nevent: ")
            peak = max(peak, rss_mib(serve.pid))
        elapsed = time.time() - t0
        counts = [sel.get_key(c).data for c in clients]
        events = sum(d["events"] for d in counts)
        nbytes = sum(d["bytes"] for d in counts)
        starved = sum(1 for d in counts if d["events"] == 0)
        print("streams=%d stream_seconds=%.1f streams_rss_before_mib=%.1f streams_rss_peak_mib=%.1f "
              "stream_events_per_s=%.0f stream_mib_per_s=%.2f streams_without_event=%d" % (
                  args.streams, elapsed, before, peak, events / elapsed, nbytes / elapsed / 1048576,
                  starved), flush=True)
        for c in clients:
            c.close()
        if starved:
            fail("%d stream clients got no event" % starved)

        # What ran must have run well: serve and the producer alive to the end, and each
        # stops cleanly on SIGTERM (serve's last commit included).
        for name, p in (("serve", serve), ("produce", producer)):
            if p.poll() is not None:
                fail("%s exited during the run with status %d" % (name, p.returncode))
        for name, p in (("serve", serve), ("produce", producer)):
            p.send_signal(signal.SIGTERM)
            try:
                code = p.wait(30)
            except subprocess.TimeoutExpired:
                fail("%s did not stop within 30 s of SIGTERM" % name)
            if code != 0:
                fail("%s exited with status %d after SIGTERM" % (name, code))
        print("checks=ok")
    finally:
        cleanup()


if __name__ == "__main__":
    main()
