#!/usr/bin/env python3
"""The probe of bench/serve_bench.sh: launches serve (under /usr/bin/time), polls its HTTP API,
paces the latency load, and computes the figures. Standard library only, but for
latency_anchor (kafka-python: run it with the venv's python, scripts/python-env.sh).
Results are printed as one line of key=value pairs; status=ok when nothing measured failed.

    serve_bench_probe.py throughput ARGS_FILE OUTDIR TOPIC N POLL_MS TIMEOUT_S BROKER_PID [VIEWS_CLIENTS]
        serve (its command line in ARGS_FILE, one argument a line) until /v1/topics shows
        consumed == N; then SIGTERM. status is not ok when serve exited non-zero, aborted a
        transaction or failed a commit (speedlayer_transactions_aborted_total,
        speedlayer_commit_failures_total), or the counts are not exact.
    serve_bench_probe.py latency SERVE_ARGS PRODUCE_ARGS INPUT OUTDIR TOPIC RATE DURATION SAMPLE_MS TIMEOUT_S
        serve; once ready, INPUT's lines paced at RATE/s into the producer; /v1/topics sampled
        (OUTDIR/samples.tsv, pacer.tsv, metrics.txt). The same failures as throughput, and the
        producer's exit status.
    serve_bench_probe.py latency_anchor PRODUCE_ARGS INPUT OUTDIR BROKERS TOPIC RATE DURATION WARMUP_MS
        The same producer and pacing into a plain kafka-python consumer: receive - CreateTime.
    serve_bench_probe.py analyze SAMPLES STAMPS PACER METRICS WARMUP_MS
        The latency figures of a latency run (STAMPS: the records' CreateTimes, one a line).
    serve_bench_probe.py views_load PORT TOPIC CLIENTS OUT
        CLIENTS threads GET /v1/views?topic=TOPIC back to back until SIGTERM.
    serve_bench_probe.py views-bench JSON
        "name items_per_second" of the medians in a Google Benchmark JSON file.
    serve_bench_probe.py objects N <LINES >OBJECTS
        The first N lines as {"id":I,"text":LINE,"ts":MS}, event times over one second from now.
"""
import bisect
import http.client
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def read_args(path):
    with open(path) as f:
        return [line.rstrip("\n") for line in f if line.rstrip("\n") != ""]


def cpu_seconds(pid):
    """user + system CPU of a live process (all threads), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None


class Api:
    def __init__(self, port):
        self.port, self.conn = port, None

    def get(self, path, timeout=5.0):
        for _ in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
        return None, b""

    def totals(self, topic):
        """(consumed, count, late, malformed) of the topic in /v1/topics, or None on error."""
        status, body = self.get("/v1/topics")
        if status != 200:
            return None
        for t in json.loads(body).get("topics", []):
            if t.get("topic") == topic:
                return (t.get("consumed", 0), t.get("count", 0), t.get("late", 0),
                        sum(t.get("malformed", {}).values()))
        return (0, 0, 0, 0)


class Serve:
    """`/usr/bin/time -f ... speedlayer serve ...` with its HTTP port and the serve pid."""

    def __init__(self, outdir, args_file):
        self.outdir = outdir
        self.err_path = os.path.join(outdir, "serve.err")
        cmd = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", os.path.join(outdir, "time.txt")]
        cmd += read_args(args_file)
        self.t0 = time.time()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=open(os.path.join(outdir, "serve.out"), "w"),
                                     stderr=open(self.err_path, "w"))
        self.pid = None
        deadline = time.monotonic() + 10
        while self.pid is None and time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                    kids = f.read().split()
                if kids:
                    self.pid = int(kids[0])
            except OSError:
                pass
            if self.pid is None:
                time.sleep(0.005)
        if self.pid is not None:
            with open(os.path.join(os.path.dirname(outdir), "serve.pid"), "w") as f:
                f.write(str(self.pid))
        self.api = None

    def wait_port(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            with open(self.err_path, errors="replace") as f:
                m = re.search(r"HTTP on https?://[^\s/]*:(\d+)", f.read())
            if m:
                self.api = Api(int(m.group(1)))
                return True
            time.sleep(0.01)
        return False

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.pid is not None and self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            if self.pid is not None:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()
        try:
            os.unlink(os.path.join(os.path.dirname(self.outdir), "serve.pid"))
        except OSError:
            pass
        return self.proc.returncode


def kv(**items):
    print(" ".join(f"{k}={v}" for k, v in items.items()), flush=True)


def metric_sum(metrics, name):
    """Sum of every sample of counter NAME (labelled or not) in a /metrics text, or None."""
    total = None
    for line in metrics.decode(errors="replace").splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " "):
            try:
                total = (total or 0) + float(line.split()[-1])
            except ValueError:
                pass
    return total


def serve_failures(metrics):
    """What a /metrics text says failed in serve (aborted transactions, failed commits), or ""."""
    aborted = metric_sum(metrics, "speedlayer_transactions_aborted_total")
    failures = metric_sum(metrics, "speedlayer_commit_failures_total")
    if aborted is None:
        return "no-metrics"
    out = []
    if aborted:
        out.append(f"aborted:{int(aborted)}")
    if failures:
        out.append(f"commit-failures:{int(failures)}")
    return ",".join(out)


def cmd_views_load(port, topic, clients, out_path):
    """`clients` threads GET /v1/views?topic=T back to back until SIGTERM; then writes
    "requests non_200" to out_path."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    counts = [[0, 0] for _ in range(int(clients))]

    def client(c):
        api = Api(int(port))
        while not stop.is_set():
            status, _ = api.get(f"/v1/views?topic={topic}", timeout=10.0)
            c[0] += 1
            if status != 200:
                c[1] += 1
                time.sleep(0.01)

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in counts]
    for t in threads:
        t.start()
    stop.wait()
    for t in threads:
        t.join(timeout=15)
    with open(out_path, "w") as f:
        f.write(f"{sum(c[0] for c in counts)} {sum(c[1] for c in counts)}\n")


def thread_cpu_seconds(pid):
    """user + system CPU of the process's main thread (serve's processor), or None."""
    return cpu_seconds(f"{pid}/task/{pid}")


def cmd_throughput(args_file, outdir, topic, target, interval_ms, timeout_s, broker_pid,
                   views_clients="0"):
    target, interval, timeout_s, broker_pid = int(target), int(interval_ms) / 1000, float(timeout_s), int(broker_pid)
    views_clients = int(views_clients)
    b0 = cpu_seconds(broker_pid) if broker_pid else None
    serve = Serve(outdir, args_file)
    status = "ok"
    load = None
    load_path = os.path.join(outdir, "views-load.txt")
    if not serve.wait_port():
        status = "no-http"
    elif views_clients > 0:
        # Its own process: the probe's GIL never delays the clients, nor they the probe.
        load = subprocess.Popen([sys.executable, os.path.abspath(__file__), "views_load",
                                 str(serve.api.port), topic, str(views_clients), load_path])
    main_done = None
    t_first = c_first = cpu_first = t_ready = None
    t_done = cpu_done = None
    last = (0, 0, 0, 0)
    b_done = None
    deadline = serve.t0 + timeout_s
    with open(os.path.join(outdir, "samples.tsv"), "w") as samples:
        while status == "ok":
            if not serve.alive():
                status = "serve-exited"
                break
            t = time.time()
            if t_ready is None and serve.api.get("/readyz")[0] == 200:
                t_ready = t - serve.t0
            tot = serve.api.totals(topic)
            cpu = cpu_seconds(serve.pid)
            if tot is not None:
                last = tot
                samples.write(f"{t - serve.t0:.3f}\t{tot[0]}\t{cpu}\n")
                if tot[0] > 0 and t_first is None:
                    t_first, c_first, cpu_first = t - serve.t0, tot[0], cpu
                if tot[0] >= target:
                    t_done, cpu_done = t - serve.t0, cpu
                    main_done = thread_cpu_seconds(serve.pid)
                    b_done = cpu_seconds(broker_pid) if broker_pid else None
                    break
            if t > deadline:
                status = "timeout"
                break
            time.sleep(max(0.0, interval - (time.time() - t)))
    views_requests = views_failed = "-"
    if load is not None:
        load.terminate()
        load.wait()
        try:
            with open(load_path) as f:
                views_requests, views_failed = f.read().split()
        except (OSError, ValueError):
            status = "views-load-failed" if status == "ok" else status
    metrics = serve.api.get("/metrics")[1] if serve.api else b""
    with open(os.path.join(outdir, "metrics.txt"), "wb") as f:
        f.write(metrics)
    txns = metric_sum(metrics, "speedlayer_transactions_total")
    code = serve.stop()  # SIGTERM: serve's last commit, then its exit status
    consumed, count, late, malformed = last
    if status == "ok":
        if consumed != target:
            status = f"consumed:{consumed}!={target}"
        elif count != target:
            status = f"count:{count}!={target}"
        elif late or malformed:
            status = f"late:{late},malformed:{malformed}"
    if status == "ok":
        status = serve_failures(metrics) or "ok"
    if status == "ok" and code != 0:
        status = f"serve-exit:{code}"
    broker_cpu = "-" if b0 is None or b_done is None else f"{b_done - b0:.2f}"
    kv(status=status, t_done=f"{t_done:.3f}" if t_done is not None else "-",
       cpu_done=f"{cpu_done:.2f}" if cpu_done is not None else "-",
       t_first=f"{t_first:.3f}" if t_first is not None else "-",
       t_ready=f"{t_ready:.3f}" if t_ready is not None else "-",
       c_first=c_first if c_first is not None else "-",
       cpu_first=f"{cpu_first:.2f}" if cpu_first is not None else "-",
       broker_cpu=broker_cpu, consumed=consumed, exit=code,
       txns=int(txns) if txns is not None else "-", main_cpu=f"{main_done:.2f}" if main_done is not None else "-",
       views_requests=views_requests, views_failed=views_failed)


def pace_lines(out, lines, rate, on_write=None):
    """Writes LINES to the pipe OUT at RATE lines per second, then closes it; returns how many
    were written. Absolute schedule: by time x after the start, rate * x lines have been
    written (a late wake-up catches up at once), in chunks of at most 1 ms."""
    start = time.monotonic()
    sent, total = 0, len(lines)
    try:
        while sent < total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            if due > sent:
                out.write(b"".join(lines[sent:due]))
                out.flush()
                sent = due
                if on_write:
                    on_write(sent)
            else:
                time.sleep(max(0.0, min(0.001, (sent + 1) / rate - (time.monotonic() - start))))
    except (BrokenPipeError, OSError):
        pass
    try:
        out.close()
    except OSError:
        pass
    return sent


def cmd_latency(serve_args, produce_args, input_path, outdir, topic, rate, duration, sample_ms, timeout_s):
    rate, duration, sample, timeout_s = int(rate), float(duration), int(sample_ms) / 1000, float(timeout_s)
    total = int(rate * duration)
    with open(input_path, "rb") as f:
        lines = [l if l.endswith(b"\n") else l + b"\n" for l in f.read().splitlines(keepends=True)]
    lines = (lines * (total // len(lines) + 1))[:total]
    serve = Serve(outdir, serve_args)
    status = "ok"
    if not serve.wait_port():
        status = "no-http"
    deadline = time.monotonic() + timeout_s
    while status == "ok":  # ready: partitions assigned, state restored, changelog read
        s, _ = serve.api.get("/readyz")
        if s == 200:
            break
        if not serve.alive():
            status = "serve-exited"
        elif time.monotonic() > deadline:
            status = "not-ready"
        time.sleep(0.05)
    t_ready = time.time() - serve.t0
    time.sleep(1.0)
    pacer_log = []
    written = [0]
    producer = None
    if status == "ok":
        producer = subprocess.Popen(read_args(produce_args), stdin=subprocess.PIPE,
                                    stdout=open(os.path.join(outdir, "produce.out"), "w"),
                                    stderr=open(os.path.join(outdir, "produce.err"), "w"))
        with open(os.path.join(os.path.dirname(outdir), "produce.pid"), "w") as f:
            f.write(str(producer.pid))

        def pace():
            written[0] = pace_lines(producer.stdin, lines, rate,
                                    lambda sent: pacer_log.append((time.time(), sent)))

        pacer = threading.Thread(target=pace, daemon=True)
        pacer.start()
    samples = []
    rng = random.Random(7)
    final = None
    last = (0, 0, 0, 0)
    while status == "ok":
        t_req = time.time()
        tot = serve.api.totals(topic)
        t_resp = time.time()
        if tot is not None:
            last = tot
            samples.append(((t_req + t_resp) / 2, tot[0], t_resp - t_req))
        if not serve.alive():
            status = "serve-exited"
            break
        if producer.poll() is not None and not pacer.is_alive():
            if final is None:
                final = time.monotonic()
            if tot is not None and tot[0] >= written[0]:
                break
            if time.monotonic() - final > 30:
                status = "view-incomplete"
                break
        time.sleep(sample * rng.uniform(0.5, 1.5))
    s, metrics = serve.api.get("/metrics") if serve.api else (None, b"")
    with open(os.path.join(outdir, "metrics.txt"), "wb") as f:
        f.write(metrics)
    if producer is not None:
        pacer.join()
        try:
            producer.wait(timeout=30)
        except subprocess.TimeoutExpired:
            producer.kill()
            producer.wait()
        try:
            os.unlink(os.path.join(os.path.dirname(outdir), "produce.pid"))
        except OSError:
            pass
    serve_cpu = cpu_seconds(serve.pid)
    code = serve.stop()  # SIGTERM: serve's last commit, then its exit status
    with open(os.path.join(outdir, "samples.tsv"), "w") as f:
        for t, c, rtt in samples:
            f.write(f"{t * 1000:.3f}\t{c}\t{rtt * 1000:.3f}\n")
    with open(os.path.join(outdir, "pacer.tsv"), "w") as f:
        for t, n in pacer_log:
            f.write(f"{t * 1000:.3f}\t{n}\n")
    send_s = (pacer_log[-1][0] - pacer_log[0][0]) if len(pacer_log) > 1 else 0
    consumed, count, late, malformed = last
    if status == "ok" and producer.returncode != 0:
        status = f"produce-exit:{producer.returncode}"
    if status == "ok" and (late or malformed):
        status = f"late:{late},malformed:{malformed}"
    if status == "ok":
        status = serve_failures(metrics) or "ok"
    if status == "ok" and code != 0:
        status = f"serve-exit:{code}"
    kv(status=status, written=written[0], consumed=consumed,
       rate=int(written[0] / send_s) if send_s > 0 else 0, t_ready=f"{t_ready:.2f}",
       serve_cpu=f"{serve_cpu:.2f}" if serve_cpu is not None else "-", exit=code)


def cmd_latency_anchor(produce_args, input_path, outdir, brokers, topic, rate, duration, warmup_ms):
    # The floor under any view's latency on this machine: the same lines, paced the same way
    # through the same producer into a fresh topic, read by a plain consumer (kafka-python,
    # no group, read_committed) that notes receive time - CreateTime per record. No serve runs.
    from kafka import KafkaConsumer, TopicPartition
    rate, duration, warmup_ms = int(rate), float(duration), float(warmup_ms)
    total = int(rate * duration)
    with open(input_path, "rb") as f:
        lines = [l if l.endswith(b"\n") else l + b"\n" for l in f.read().splitlines(keepends=True)]
    lines = (lines * (total // len(lines) + 1))[:total]
    consumer = KafkaConsumer(bootstrap_servers=brokers, isolation_level="read_committed",
                             enable_auto_commit=False)
    partitions = sorted(consumer.partitions_for_topic(topic) or [])
    consumer.assign([TopicPartition(topic, p) for p in partitions])
    consumer.seek_to_beginning()
    consumer.poll(timeout_ms=200)  # connected and positioned before the first send
    delays, received = [], [0]
    first_stamp = [None]
    stop = threading.Event()

    def consume():
        while not stop.is_set() and received[0] < total:
            for _, records in consumer.poll(timeout_ms=100).items():
                now = time.time() * 1000
                for r in records:
                    received[0] += 1
                    if first_stamp[0] is None:
                        first_stamp[0] = r.timestamp
                    if r.timestamp >= first_stamp[0] + warmup_ms:
                        delays.append(now - r.timestamp)

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    producer = subprocess.Popen(read_args(produce_args), stdin=subprocess.PIPE,
                                stdout=open(os.path.join(outdir, "produce.out"), "w"),
                                stderr=open(os.path.join(outdir, "produce.err"), "w"))
    start = time.monotonic()
    sent = pace_lines(producer.stdin, lines, rate)
    send_s = time.monotonic() - start
    code = producer.wait(timeout=60)
    reader.join(timeout=30)
    stop.set()
    consumer.close()
    delays.sort()
    status = "ok"
    if code != 0:
        status = f"produce-exit:{code}"
    elif received[0] != sent:
        status = f"received:{received[0]}!={sent}"
    kv(status=status, written=sent, received=received[0], rate=int(sent / send_s) if send_s > 0 else 0,
       samples=len(delays), p50=fmt_ms(quantile(delays, 0.5)), p99=fmt_ms(quantile(delays, 0.99)),
       max=fmt_ms(delays[-1] if delays else None))


def quantile(sorted_values, q):  # nearest rank
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def histogram_quantiles(metrics_path, name, qs):
    buckets = []
    with open(metrics_path, errors="replace") as f:
        for line in f:
            if line.startswith(name + "_bucket"):
                m = re.search(r'le="([^"]+)"\}\s+(\S+)', line)
                if m:
                    le = math.inf if m.group(1) == "+Inf" else float(m.group(1))
                    buckets.append((le, float(m.group(2))))
    buckets.sort()
    if not buckets or buckets[-1][1] == 0:
        return [None for _ in qs], 0
    total = buckets[-1][1]
    out = []
    for q in qs:  # as Prometheus' histogram_quantile: linear within the bucket
        rank = q * total
        prev_le, prev_c = 0.0, 0.0
        for le, c in buckets:
            if c >= rank:
                if math.isinf(le):
                    out.append(-prev_le)  # beyond the largest bound: negative = "more than" 
                elif c == prev_c:
                    out.append(le)
                else:
                    out.append(prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c))
                break
            prev_le, prev_c = le, c
    return out, int(total)


def fmt_ms(v):
    return "-" if v is None else f"{v:.1f}"


def fmt_hist(v):  # seconds -> ms; a negative value is "beyond the largest bucket bound"
    return "-" if v is None else (f">{-v * 1000:.0f}" if v < 0 else f"{v * 1000:.1f}")


def cmd_analyze(samples_path, stamps_path, pacer_path, metrics_path, warmup_ms):
    warmup_ms = float(warmup_ms)
    with open(stamps_path) as f:
        stamps = sorted(int(l) for l in f if l.strip().lstrip("-").isdigit())
    samples = []
    with open(samples_path) as f:
        for l in f:
            t, c, rtt = l.split()
            samples.append((float(t), int(c), float(rtt)))
    pacer = []
    with open(pacer_path) as f:
        for l in f:
            t, n = l.split()
            pacer.append((float(t), int(n)))
    n = len(stamps)
    delays, delays_pacer = [], []
    rtts = []
    reached_end = False
    pacer_counts = [c for _, c in pacer]
    for t, c, rtt in samples:
        if c <= 0 or c > n or reached_end:
            continue
        if c == n:
            reached_end = True  # later samples would only measure the idle time after the end
        send = stamps[c - 1]
        if send < stamps[0] + warmup_ms:
            continue
        delays.append(t - send)
        rtts.append(rtt)
        i = bisect.bisect_left(pacer_counts, c)  # the pacer's write that contained message c
        if i < len(pacer):
            delays_pacer.append(t - pacer[i][0])
    delays.sort()
    delays_pacer.sort()
    rtts.sort()
    (h50, h99), h_count = histogram_quantiles(metrics_path, "speedlayer_processing_latency_seconds", [0.5, 0.99])
    txns = 0
    with open(metrics_path, errors="replace") as f:
        for line in f:
            if line.startswith("speedlayer_transactions_total"):
                txns = int(float(line.split()[-1]))
    # Transactions happen only while records flow: from the first send to the last sample.
    span = (samples[-1][0] - stamps[0]) if samples and stamps else 0
    cycle = span / txns if txns else None
    kv(samples=len(delays), p50=fmt_ms(quantile(delays, 0.5)), p99=fmt_ms(quantile(delays, 0.99)),
       max=fmt_ms(delays[-1] if delays else None),
       pacer_p50=fmt_ms(quantile(delays_pacer, 0.5)), pacer_p99=fmt_ms(quantile(delays_pacer, 0.99)),
       rtt_p50=fmt_ms(quantile(rtts, 0.5)),
       hist_p50=fmt_hist(h50), hist_p99=fmt_hist(h99), hist_count=h_count, stamps=n,
       txns=txns, txn_cycle=fmt_ms(cycle))


def cmd_views_bench(json_path):
    with open(json_path) as f:
        data = json.load(f)
    for b in data.get("benchmarks", []):
        if b.get("aggregate_name", "median") != "median" or "items_per_second" not in b:
            continue
        print(b.get("run_name", b["name"]), int(b["items_per_second"]))


def cmd_objects(count):
    # Event times over one second from now: the same window layout as the Kafka timestamps
    # of string values.
    count = int(count)
    base = int(time.time() * 1000)
    for i, line in enumerate(sys.stdin):
        if i == count:
            break
        print(json.dumps({"id": i, "text": line.rstrip("\n"), "ts": base + i * 1000 // count},
                         separators=(",", ":")))


COMMANDS = {"throughput": cmd_throughput, "latency": cmd_latency,
            "latency_anchor": cmd_latency_anchor, "analyze": cmd_analyze,
            "views_load": cmd_views_load, "views-bench": cmd_views_bench, "objects": cmd_objects}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
