#!/usr/bin/env python3
"""Helper of bench/changelog_bench.sh (standard library only; see bench/README.md).

    changelog_bench_helper.py pace RATE SECONDS FILE
        Writes the first RATE*SECONDS lines of FILE to standard output, RATE lines per
        second on an absolute schedule (a late wake-up catches up at once; chunks of at most
        1 ms). Prints "written=N seconds=S" on standard error. Exit 1 if the reader went away.
    changelog_bench_helper.py gen-restore COUNT OUT
        Writes COUNT compact JSON objects {"text":LINE,"ts":MS}, LINE the i-th line of
        bench/gen_messages.py (90 bytes, same seed, so with its unique 7-digit id), event
        times spread evenly over the hour before now, oldest first. Prints "first_ts=..
        last_ts=.." on standard output.
    changelog_bench_helper.py wait-ready ERRFILE PID T0_MS TIMEOUT_S
        Waits until serve (PID, standard error in ERRFILE) prints its HTTP port, then polls
        /readyz every 10 ms until it answers 200. Prints key=value pairs: status, port,
        ready_s (from T0_MS, ms since the epoch, taken just before serve was started) and
        phases (seconds spent in each /readyz reason, in order).
    changelog_bench_helper.py wait-consumed PORT TOPIC N TIMEOUT_S PID
        Polls /v1/topics every 50 ms until TOPIC's consumed >= N (or PID exits, or the
        timeout). Prints status, consumed, count, late, malformed, expired, waited_s.
    changelog_bench_helper.py totals PORT TOPIC
        One /v1/topics reading of TOPIC: consumed, count, late, malformed, expired.
    changelog_bench_helper.py views-sum PORT TOPIC
        Sum of the window counts in /v1/views?topic=TOPIC: views_sum, windows.
    changelog_bench_helper.py metric PORT NAME
        The sum of every sample of counter or gauge NAME in /metrics, labelled or not (0 when
        it has none; "-" when /metrics did not answer).
"""
import http.client
import json
import os
import re
import sys
import time

from serve_bench_probe import pace_lines  # the same pacing as serve_bench.sh's latency phase

REASONS = [  # /readyz reasons of serve (src/serve), shortened for the report
    ("not connected", "connect"),
    ("waiting for the consumer group", "group"),
    ("restoring state", "restore"),
    ("reading the changelog", "follower"),
]


def kv(**items):
    print(" ".join(f"{k}={v}" for k, v in items.items()), flush=True)


def get(port, path, timeout=5.0):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=timeout)
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        conn.close()
        return r.status, body
    except (OSError, http.client.HTTPException):
        return None, b""


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def topic_totals(port, topic):
    status, body = get(port, "/v1/topics")
    if status != 200:
        return None
    for t in json.loads(body).get("topics", []):
        if t.get("topic") == topic:
            return {"consumed": t.get("consumed", 0), "count": t.get("count", 0),
                    "late": t.get("late", 0), "malformed": sum(t.get("malformed", {}).values()),
                    "expired": t.get("expired", 0)}
    return {"consumed": 0, "count": 0, "late": 0, "malformed": 0, "expired": 0}


def cmd_pace(rate, seconds, path):
    rate, seconds = int(rate), float(seconds)
    total = int(rate * seconds)
    lines = []
    with open(path, "rb") as f:
        for line in f:
            lines.append(line if line.endswith(b"\n") else line + b"\n")
            if len(lines) == total:
                break
    if len(lines) < total:
        sys.exit(f"pace: {path} has {len(lines)} lines, {total} needed")
    start = time.monotonic()
    sent = pace_lines(sys.stdout.buffer, lines, rate)
    if sent < total:
        print(f"written={sent} seconds={time.monotonic() - start:.2f} reader-gone", file=sys.stderr)
        sys.exit(1)
    print(f"written={sent} seconds={time.monotonic() - start:.2f}", file=sys.stderr)


def cmd_gen_restore(count, out):
    count = int(count)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import random
    import gen_messages  # the same lines as gen_messages.py COUNT 90 FILE

    rng = random.Random(20251127)
    span = 3600 * 1000
    base = int(time.time() * 1000) - span
    first = last = None
    with open(out, "w", encoding="ascii", newline="\n") as f:
        for i in range(1, count + 1):
            ts = base + (i - 1) * span // count
            first = ts if first is None else first
            last = ts
            f.write(json.dumps({"text": gen_messages.line(rng, i, 90), "ts": ts},
                               separators=(",", ":")) + "\n")
    kv(first_ts=first, last_ts=last)


def cmd_wait_ready(errfile, pid, t0_ms, timeout_s):
    t0 = int(t0_ms) / 1000
    deadline = time.time() + float(timeout_s)
    port = None
    while port is None:
        try:
            with open(errfile, errors="replace") as f:
                m = re.search(r"HTTP on https?://[^\s/]*:(\d+)", f.read())
            if m:
                port = int(m.group(1))
                break
        except OSError:
            pass
        if not alive(pid):
            return kv(status="serve-exited", port="-", ready_s="-", phases="-")
        if time.time() > deadline:
            return kv(status="no-http", port="-", ready_s="-", phases="-")
        time.sleep(0.005)
    phases = []  # [tag, first seen (s since t0)]
    while True:
        t = time.time()
        status, body = get(port, "/readyz", timeout=2.0)
        if status == 200:
            ready = t - t0
            break
        tag = "http"
        if status is not None:
            try:
                reason = json.loads(body).get("reason", "")
            except ValueError:
                reason = ""
            tag = next((short for long, short in REASONS if reason.startswith(long)), "other")
        if not phases or phases[-1][0] != tag:
            phases.append([tag, t - t0])
        if not alive(pid):
            return kv(status="serve-exited", port=port, ready_s="-", phases="-")
        if t > deadline:
            return kv(status="not-ready", port=port, ready_s="-", phases="-")
        time.sleep(0.01)
    spans = []
    for i, (tag, since) in enumerate(phases):
        until = phases[i + 1][1] if i + 1 < len(phases) else ready
        spans.append(f"{tag}:{until - since:.2f}")
    kv(status="ok", port=port, ready_s=f"{ready:.2f}", phases=",".join(spans) or "-")


def cmd_wait_consumed(port, topic, n, timeout_s, pid):
    n = int(n)
    start = time.time()
    deadline = start + float(timeout_s)
    status = "ok"
    last = None
    while True:
        tot = topic_totals(port, topic)
        if tot is not None:
            last = tot
            if tot["consumed"] >= n:
                break
        if not alive(pid):
            status = "serve-exited"
            break
        if time.time() > deadline:
            status = "timeout"
            break
        time.sleep(0.05)
    last = last or {"consumed": "-", "count": "-", "late": "-", "malformed": "-", "expired": "-"}
    kv(status=status, **last, waited_s=f"{time.time() - start:.2f}")


def cmd_totals(port, topic):
    tot = topic_totals(port, topic)
    if tot is None:
        return kv(status="no-answer", consumed="-", count="-", late="-", malformed="-", expired="-")
    kv(status="ok", **tot)


def cmd_views_sum(port, topic):
    status, body = get(port, "/v1/views?topic=" + topic, timeout=30.0)
    if status != 200:
        return kv(status=f"http:{status}", views_sum="-", windows="-")
    windows = json.loads(body).get("windows", [])
    kv(status="ok", views_sum=sum(w.get("count", 0) for w in windows), windows=len(windows))


def cmd_metric(port, name):
    status, body = get(port, "/metrics")
    if status != 200:
        print("-")
        return
    total = 0.0
    for line in body.decode(errors="replace").splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " "):
            try:
                total += float(line.split()[-1])
            except ValueError:
                pass
    print(int(total) if total.is_integer() else total)


if __name__ == "__main__":
    commands = {"pace": cmd_pace, "gen-restore": cmd_gen_restore, "wait-ready": cmd_wait_ready,
                "wait-consumed": cmd_wait_consumed, "totals": cmd_totals,
                "views-sum": cmd_views_sum, "metric": cmd_metric}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
