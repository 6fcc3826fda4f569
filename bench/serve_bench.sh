#!/usr/bin/env bash
# `speedlayer serve` benchmark on a real broker (issue 3): records aggregated per second and
# per CPU-second from a pre-filled topic, and produce-to-view latency at a steady rate.
# See bench/README.md ("serve_bench.sh").
#
#   bench/serve_bench.sh [--brokers B] [--messages N] [--size BYTES] [--no-ids] [--values KIND]
#                        [--repeat R] [--rate MSGS_PER_S] [--duration S]
#                        [--commit-intervals LIST] [--sample-ms MS] [--only LIST]
#                        [--speedlayer PATH] [--serve-arg ARG]... [--produce-arg ARG]...
#                        [--views-bench PATH] [--keep]
#                        [--nice N] [--anchors LIST | --no-anchors] [--views-clients N]
#
#   --brokers B           use this cluster (host:port,...) instead of starting a 1-node
#                         Kafka 4.1.1 in a temp dir (scripts/kafka-broker.sh)
#   --messages N          messages in the pre-filled topic (default 1000000)
#   --size BYTES          bytes per message line (default 90, at least 40)
#   --no-ids              replace each line's leading 7-digit message number by a fixed word
#                         (by default every message carries one unique term, as tweet ids
#                         or URLs do: the term sketch then runs at its max_terms bound)
#   --values KIND         throughput phase: the pre-filled topic's values, `string` (default:
#                         each line as a JSON string, as `speedlayer produce` sends text) or
#                         `object` ({"id":N,"text":LINE,"ts":MS}, sent with --format json;
#                         serve then runs with --text-field text --time-field ts)
#   --repeat R            throughput runs on the same pre-filled topic, each with a fresh
#                         group, changelog and output topic (default 1); the targets use
#                         the median run
#   --rate N              latency phase: messages per second (default 10000)
#   --duration S          latency phase: seconds of sending (default 20)
#   --commit-intervals L  latency phase: serve --commit-interval values, comma-separated,
#                         one run each (default 100ms,10ms)
#   --sample-ms MS        latency phase: mean interval between view samples (default 25;
#                         each interval is drawn uniformly from 0.5x..1.5x, never in step
#                         with the commit interval)
#   --only LIST           comma-separated subset of: views-bench, throughput, latency
#   --speedlayer PATH     binary to measure (default build/src/app/speedlayer; copied at start)
#   --serve-arg ARG       extra argument for every `speedlayer serve` (repeatable)
#   --produce-arg ARG     extra argument for the latency phase's `speedlayer produce` (serve's
#                         runs and the plain-consumer anchor; repeatable), e.g.
#                         --produce-arg=-X --produce-arg=max.in.flight.requests.per.connection=5
#   --views-bench PATH    Google Benchmark binary of bench/views_bench.cc (default
#                         build/bench/views_bench, built with `cmake --build build --target
#                         views_bench` when bench/CMakeLists.txt declares it and it is missing)
#   --keep                keep the temp dir (serve logs, samples, send times) and say where
#   --nice N              run everything measured (broker, serve, producer, probes) at this
#                         niceness, e.g. -10 on a machine busy with other work (root only for
#                         N < 0); the views_bench build always runs at low priority
#   --anchors LIST        throughput phase: consumers run beside serve on the same topic in
#                         every round, comma-separated subset of: kcat, java-perf,
#                         kafka-python (default: all three; "none" = --no-anchors)
#   --no-anchors          throughput phase: serve only
#   --views-clients N     throughput phase: N clients (threads of one process) GET
#                         /v1/views?topic=T back to back while serve aggregates (default 0);
#                         compare recs_per_processor_cpu_s with a run of 0 (issue 12 item 5:
#                         views never block the processor)
#
# Throughput: the topic (3 partitions) is filled with `speedlayer produce` before any clock
# starts; then `speedlayer serve --window 60s` runs under /usr/bin/time and /v1/topics is
# polled every 50 ms until it reports consumed == N; seconds, CPU seconds of the serve
# process at that moment (/proc), peak RSS. The anchors read the same topic in the same
# rounds (order rotating per round), each from the beginning with isolation.level=
# read_committed, under /usr/bin/time (wall, user+sys CPU, peak RSS), and must read exactly N
# records: kcat -C -e; Kafka's ConsumerPerformance (what kafka-consumer-perf-test.sh runs)
# with a fresh group; a kafka-python KafkaConsumer. The report gives serve's records per
# CPU-second as a ratio of each anchor's. Latency: serve on a fresh topic; once /readyz
# says ready, lines are piped at the given rate into `speedlayer produce`, /v1/topics is
# sampled, and each sample (t, consumed c) gives the delay t - (send time of the c-th
# message), the send time being the record's Kafka CreateTime read back with kcat.
#
# Standard output is the report only: '#' lines are comments (load at start and end,
# context), then one table per phase, then one "targets ..." line of key=value pairs.
# Progress goes to standard error. Exit status: 0 when every check passed (whether or not
# the targets were met), 1 when a run failed (serve's or a producer's exit status, an aborted
# transaction or failed commit in serve's /metrics, the group's committed offsets short of
# the input, an empty changelog) or a count was wrong, or the bench could not run, 2 on bad
# usage. Temp files live in /tmp/serve-bench.XXXXXX and are removed at exit. The Python
# parts are bench/serve_bench_probe.py, bench/kafka_python_consumer.py, bench/bench_admin.py.
set -euo pipefail

bench_name=serve_bench
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
readonly PARTITIONS=3
readonly ALL_PHASES="views-bench throughput latency"
readonly ALL_ANCHORS="kcat java-perf kafka-python"  # throughput phase: consumers beside serve
readonly AGG_TARGET=1000000  # records per second per core
readonly P99_TARGET_MS=20
readonly settle=2       # seconds of pause before each timed run
readonly poll_ms=50     # throughput phase: /v1/topics poll interval
readonly warmup_ms=1000 # latency phase: samples of messages sent in the first second are not counted

brokers="" messages=1000000 size=90 no_ids=0 values=string repeat=1 rate=10000 duration=20
intervals="100ms,10ms" sample_ms=25 only="" keep=0 niceness="" views_clients=0
anchors=$ALL_ANCHORS
speedlayer="$root/build/src/app/speedlayer"
views_bench="" views_bench_given=0
serve_args=() produce_args=()
while (($#)); do
  case $1 in
    --brokers) brokers=${2:?}; shift 2 ;;
    --messages) messages=${2:?}; shift 2 ;;
    --size) size=${2:?}; shift 2 ;;
    --no-ids) no_ids=1; shift ;;
    --values) values=${2:?}; shift 2 ;;
    --repeat) repeat=${2:?}; shift 2 ;;
    --rate) rate=${2:?}; shift 2 ;;
    --duration) duration=${2:?}; shift 2 ;;
    --commit-intervals) intervals=${2:?}; shift 2 ;;
    --sample-ms) sample_ms=${2:?}; shift 2 ;;
    --only) only=${2:?}; shift 2 ;;
    --speedlayer) speedlayer=${2:?}; shift 2 ;;
    --serve-arg) serve_args+=("${2:?}"); shift 2 ;;
    --serve-arg=*) serve_args+=("${1#--serve-arg=}"); shift ;;
    --produce-arg) produce_args+=("${2:?}"); shift 2 ;;
    --produce-arg=*) produce_args+=("${1#--produce-arg=}"); shift ;;
    --views-bench) views_bench=${2:?}; views_bench_given=1; shift 2 ;;
    --keep) keep=1; shift ;;
    --nice) niceness=${2:?}; shift 2 ;;
    --anchors) anchors=${2:?}; shift 2 ;;
    --no-anchors) anchors=none; shift ;;
    --views-clients) views_clients=${2:?}; shift 2 ;;
    -h|--help) usage 0 ;;
    *) log "unknown argument: $1"; usage ;;
  esac
done
for n in messages size repeat rate duration sample_ms; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || die "--${n//_/-} must be a positive number"
done
((size >= 40)) || die "--size must be at least 40"
[[ "$views_clients" =~ ^[0-9]+$ ]] || die "--views-clients must be a number"
[[ "$values" == string || "$values" == object ]] || die "--values must be string or object"
[[ -z "$niceness" ]] || bench_renice "$niceness"  # inherited by the broker, serve, the probes
[[ "$intervals" =~ ^[0-9]+(ms|s)(,[0-9]+(ms|s))*$ ]] || die "--commit-intervals: e.g. 100ms,10ms"
phases=$ALL_PHASES
[[ -z "$only" ]] || phases=${only//,/ }
bench_check_list --only "$phases" "$ALL_PHASES"
has_phase() { [[ " $phases " == *" $1 "* ]]; }
anchors=${anchors//,/ }
[[ "$anchors" != none ]] || anchors=""
bench_check_list --anchors "$anchors" "$ALL_ANCHORS"
bench_require_tools "$speedlayer"

# ---------------------------------------------------------------------------------------
# Temp dir, broker, clean-up

bench_setup serve-bench sbench

load_start=$(load_now)
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)

bench_copy_speedlayer "$speedlayer"  # first: others may rebuild build/ while this runs

bench_start_broker
bench_python
probe="$root/bench/serve_bench_probe.py"

write_args() { # FILE ARG...: one argument per line, for the probe
  local f=$1
  shift
  printf '%s\n' "$@" >"$f"
}

timefile() { # DIR -> "wall user sys rss_kib" of /usr/bin/time (its last line)
  tail -n1 "$1/time.txt" 2>/dev/null || echo "- - - 0"
}

serve_cmd() { # FILE TOPIC NAME COMMIT_INTERVAL: the serve command line, fresh group/topics per NAME
  write_args "$1" "$sl" serve --brokers "$2" --topic "$3" --group "$prefix-$4-group" \
    --changelog-topic "$prefix-$4-changelog" --output-topic "$prefix-$4-views" \
    --transactional-id "$prefix-$4-txn" --listen 127.0.0.1:0 --window 60s \
    --commit-interval "$5" ${serve_args[@]+"${serve_args[@]}"}
}

# After serve's exit: what it committed must be all of its input. Appends to check.
check_committed() { # NAME TOPIC EXPECTED (NAME as given to serve_cmd)
  local got changelog
  got=$(committed_offsets "$prefix-$1-group" "$2")
  [[ "$got" == "$3" ]] || check+="${check:+,}committed:$got!=$3"
  changelog=$(committed_records "$prefix-$1-changelog")
  ((changelog > 0)) || check+="${check:+,}changelog-empty"
}

median_of() { # COLUMN FILE: median of a numeric column (lower middle for an even count)
  sort -k"$1,$1"n "$2" | awk -v c="$1" '{ v[NR] = $c } END { if (NR) print v[int((NR + 1) / 2)] }'
}

# ---------------------------------------------------------------------------------------
# Input: the producer benchmark's deterministic lines (gen_messages.py), SIZE bytes each,
# starting with a unique 7-digit number (or, with --no-ids, the word "message").

failed=0
input="$tmp/messages.txt"
needed=$messages
lat_msgs=$((rate * duration))
if has_phase latency && ((lat_msgs > needed)); then needed=$lat_msgs; fi
if has_phase throughput || has_phase latency; then
  log "generating $needed messages of $size bytes"
  python3 "$root/bench/gen_messages.py" "$needed" "$size" "$input" >/dev/null
  if ((no_ids)); then sed -i -E 's/^[0-9]{7}/message/' "$input"; fi
  printf 'default_topic: unused\nroutes: []\n' >"$tmp/routes-none.yaml"
  bench_warm_up
fi

# ---------------------------------------------------------------------------------------
# Phase 1: pure aggregation, no Kafka (bench/views_bench.cc)

vb_rows="$tmp/views-bench.txt"
: >"$vb_rows"
vb_note="" vb_built=""
if has_phase views-bench; then
  if ((views_bench_given == 0)); then
    views_bench="$root/build/bench/views_bench"
    if [[ ! -x "$views_bench" && -f "$root/bench/views_bench.cc" ]] &&
      grep -q 'views_bench' "$root/bench/CMakeLists.txt" 2>/dev/null; then
      if grep -q '^SPEEDLAYER_BENCH:BOOL=ON' "$root/build/CMakeCache.txt" 2>/dev/null; then
        log "building views_bench (cmake --build build --target views_bench)"
        nice -n 19 cmake --build "$root/build" --target views_bench >"$tmp/views-bench-build.log" 2>&1 ||
          log "building views_bench failed (see the report)"
        vb_built="build/ (cmake --build build --target views_bench)"
      else
        # build/ was configured without benchmarks: never reconfigure someone's build tree;
        # build the one target in a private tree instead (same default build type).
        views_bench="$tmp/vb-build/bench/views_bench"
        log "building views_bench in a private build tree (build/ has SPEEDLAYER_BENCH=OFF)"
        { cmake -S "$root" -B "$tmp/vb-build" -G Ninja -DSPEEDLAYER_BENCH=ON -DSPEEDLAYER_TESTS=OFF &&
          nice -n 19 cmake --build "$tmp/vb-build" --target views_bench; } >"$tmp/views-bench-build.log" 2>&1 ||
          log "building views_bench failed (see the report)"
        vb_built="a private build tree of the working tree (RelWithDebInfo)"
      fi
    fi
  fi
  if [[ -x "$views_bench" ]]; then
    cp "$views_bench" "$tmp/views_bench"
    log "running views_bench"
    if "$tmp/views_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
      --benchmark_format=json --benchmark_out="$tmp/views-bench.json" \
      --benchmark_out_format=json >/dev/null 2>"$tmp/views-bench.err"; then
      "$py" "$probe" views-bench "$tmp/views-bench.json" >"$vb_rows"
      vb_note="views_bench${vb_built:+ built in $vb_built}, median of 3 repetitions"
    else
      vb_note="$views_bench failed: $(tail -n1 "$tmp/views-bench.err")"
    fi
  elif [[ -f "$root/bench/views_bench.cc" ]]; then
    vb_note="bench/views_bench.cc exists but no views_bench binary (not in bench/CMakeLists.txt, or the build failed: $(grep -m1 -i 'error' "$tmp/views-bench-build.log" 2>/dev/null || echo 'not built'))"
  else
    vb_note="no bench/views_bench.cc"
  fi
fi
vb_rate() { awk -v n="$1" '$1 == n { print $2 }' "$vb_rows"; }
# BM_Add/5000/0: no term filters, as BM_Add/5000 measured before the filters (issue 15) had an
# argument for them; the older name still counts for an older binary (--views-bench).
vb_add=$(vb_rate BM_Add/5000/0)
[[ -n "$vb_add" ]] || vb_add=$(vb_rate BM_Add/5000)
vb_extract=$(vb_rate BM_ExtractText/0)
vb_combined=""
if [[ -n "$vb_add" && -n "$vb_extract" ]]; then  # extract + add per record
  vb_combined=$(awk -v a="$vb_add" -v e="$vb_extract" 'BEGIN { printf "%d", 1 / (1 / a + 1 / e) }')
fi

# ---------------------------------------------------------------------------------------
# Phase 2: throughput from a pre-filled topic

tp_runs="$tmp/throughput-runs.txt"  # run records seconds ready_s first_s rate steady_rate cpu_s per_cpu steady_per_cpu rss_mib broker_cpu load1 check
an_runs="$tmp/anchor-runs.txt"      # client run records seconds cpu_s rate per_cpu rss_mib broker_cpu load1 check own_rate own_fetch_rate own_mb_s
pr_runs="$tmp/processor-runs.txt"   # run processor_cpu_s per_processor_cpu views_clients views_requests views_per_s views_failed check
: >"$tp_runs"
: >"$pr_runs"
: >"$an_runs"
fill_desc=""
readonly anchor_timeout=600  # seconds; an anchor still running then has failed

run_serve() { # ROUND: one serve run until /v1/topics shows consumed == N
  local r=$1 d="$tmp/tp-$1" res pair check row
  mkdir -p "$d"
  serve_cmd "$d/serve.args" "$brokers" "$t_in" "tp$r" 100ms
  [[ "$values" != object ]] || printf '%s\n' --text-field text --time-field ts >>"$d/serve.args"
  log "throughput run $r/$repeat: serve until /v1/topics shows consumed == $messages"
  res=$("$py" "$probe" throughput "$d/serve.args" "$d" "$t_in" "$messages" "$poll_ms" 600 "$broker_pid" "$views_clients")
  log "  $res"
  declare -A R=()
  for pair in $res; do R[${pair%%=*}]=${pair#*=}; done
  read -r wall user sys rss_kib < <(timefile "$d")
  check=${R[status]:-probe-failed}
  [[ "$check" != ok ]] || { check=""; check_committed "tp$r" "$t_in" "$messages"; check=${check:-ok}; }
  if [[ "$check" != ok ]]; then
    failed=1
    log "serve's standard error ends with:"
    tail -n 5 "$d/serve.err" >&2
  fi
  row=$(awk -v n="$messages" -v td="${R[t_done]}" -v tr="${R[t_ready]}" -v tf="${R[t_first]}" \
    -v cf="${R[c_first]}" -v cpu="${R[cpu_done]}" -v cpuf="${R[cpu_first]}" -v rss="$rss_kib" \
    -v b="${R[broker_cpu]}" -v r="$r" -v check="$check" -v load="$(cut -d" " -f1 /proc/loadavg)" '
    BEGIN {
      ok = (td != "-" && tf != "-")
      rate = (ok && td > 0) ? sprintf("%d", n / td) : "-"
      steady = (ok && td > tf) ? sprintf("%d", (n - cf) / (td - tf)) : "-"
      per = (ok && cpu > 0) ? sprintf("%d", n / cpu) : "-"
      steady_per = (ok && cpu > cpuf) ? sprintf("%d", (n - cf) / (cpu - cpuf)) : "-"
      printf "%s %s %s %s %s %s %s %s %s %s %.1f %s %s %s\n", r, n, td, tr, tf, rate, steady, cpu, per,
        steady_per, rss / 1024, b, load, check
    }')
  echo "$row" >>"$tp_runs"
  log "  $row"
  awk -v r="$r" -v n="$messages" -v m="${R[main_cpu]:--}" -v td="${R[t_done]}" -v c="$views_clients" \
    -v q="${R[views_requests]:--}" -v f="${R[views_failed]:--}" -v check="$check" 'BEGIN {
      per = (m != "-" && m > 0) ? sprintf("%d", n / m) : "-"
      qps = (q != "-" && td != "-" && td > 0) ? sprintf("%.0f", q / td) : "-"
      printf "%s %s %s %s %s %s %s %s\n", r, m, per, c, q, qps, f, check
    }' >>"$pr_runs"
}

# Consume anchors: each reads the whole pre-filled topic from the beginning, read_committed,
# under /usr/bin/time (wall clock from exec to exit, user+sys CPU of the process and its
# children, peak RSS), and must report exactly N records.
run_anchor() { # CLIENT ROUND
  local c=$1 r=$2 d="$tmp/an-$1-$2" st=0 got b0 b1 own=- own_fetch=- own_mb=- check="" last row
  mkdir -p "$d"
  log "throughput run $r/$repeat: $c consumes the $messages records"
  local timed=(timeout -k 10 "$anchor_timeout" /usr/bin/time -f '%e %U %S %M' -o "$d/time.txt")
  b0=$(proc_cpu "$broker_pid")
  case $c in
    kcat)
      # -f '\n': one byte per record, the cheapest output (no payload copy, no pipe partner
      # to share the cores) and the lines count the records.
      "${timed[@]}" kcat -C -b "$brokers" -t "$t_in" -o beginning -e -q \
        -X isolation.level=read_committed -f '\n' >"$d/out" 2>"$d/err" || st=$?
      got=$(wc -l <"$d/out")
      ;;
    java-perf)
      # kafka-consumer-perf-test.sh is `kafka-run-class.sh org.apache.kafka.tools.ConsumerPerformance`;
      # kafka-broker.sh fetches the 4.1.1 jars (not the distribution's bin/) and runs the class.
      printf 'isolation.level=read_committed\n' >"$d/consumer.properties"
      "${timed[@]}" "$root/scripts/kafka-broker.sh" run-class org.apache.kafka.tools.ConsumerPerformance \
        --bootstrap-server "$brokers" --topic "$t_in" --messages "$messages" --group "$prefix-perf-$r" \
        --consumer.config "$d/consumer.properties" --timeout 60000 >"$d/out" 2>"$d/err" || st=$?
      # Its CSV line: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg,
      # nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
      last=$(grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2} ' "$d/out" | tail -n1)
      got=$(awk -F', *' '{ print $5 }' <<<"$last")
      own=$(awk -F', *' '$6 != "" { printf "%d", $6 }' <<<"$last")
      own_fetch=$(awk -F', *' '$10 != "" { printf "%d", $10 }' <<<"$last")
      own_mb=$(awk -F', *' '$4 != "" { printf "%.1f", $4 }' <<<"$last")
      if grep -q 'WARNING' "$d/out"; then check="timeout"; fi
      ;;
    kafka-python)
      "${timed[@]}" "$py" "$root/bench/kafka_python_consumer.py" "$brokers" "$t_in" "$messages" \
        "$((anchor_timeout - 30))" >"$d/out" 2>"$d/err" || st=$?
      got=$(tail -n1 "$d/out")
      ;;
  esac
  b1=$(proc_cpu "$broker_pid")
  got=${got:-0}
  ((st == 0)) || check="exit:$st${check:+,$check}"
  [[ "$got" == "$messages" ]] || check+="${check:+,}read:$got!=$messages"
  if [[ -n "$check" ]]; then
    failed=1
    log "$c: $check; its standard error ends with:"
    tail -n 5 "$d/err" >&2
  fi
  read -r wall user sys rss_kib < <(tail -n1 "$d/time.txt" 2>/dev/null || echo "- - - 0")
  row=$(awk -v c="$c" -v r="$r" -v n="$messages" -v w="$wall" -v u="$user" -v s="$sys" \
    -v rss="$rss_kib" -v b0="$b0" -v b1="$b1" -v load="$(cut -d" " -f1 /proc/loadavg)" \
    -v check="${check:-ok}" -v own="${own:--}" -v ownf="${own_fetch:--}" -v ownmb="${own_mb:--}" '
    BEGIN {
      ok = (w != "-" && u != "-")
      cpu = ok ? sprintf("%.2f", u + s) : "-"
      rate = (ok && w > 0) ? sprintf("%d", n / w) : "-"
      per = (ok && u + s > 0) ? sprintf("%d", n / (u + s)) : "-"
      b = (b0 == "-" || b1 == "-") ? "-" : sprintf("%.2f", b1 - b0)
      printf "%s %s %s %s %s %s %s %.1f %s %s %s %s %s %s\n", c, r, n, (ok ? w : "-"), cpu, rate, per,
        rss / 1024, b, load, check, own, ownf, ownmb
    }')
  echo "$row" >>"$an_runs"
  log "  $row"
}

if has_phase throughput; then
  t_in="$prefix-fill"
  create_topics "$t_in"
  log "filling $t_in with $messages messages (speedlayer produce)"
  fill_format=text
  if [[ "$values" == object ]]; then
    # Event times over one second from now: the same window layout as the Kafka timestamps of
    # string values.
    python3 "$probe" objects "$messages" <"$input" >"$tmp/fill.txt"
    fill_format=json
  else
    head -n "$messages" "$input" >"$tmp/fill.txt"
  fi
  "$sl" produce --brokers "$brokers" --topic "$t_in" --routes "$tmp/routes-none.yaml" \
    --format "$fill_format" --input "$tmp/fill.txt" --dead-letter "$tmp/dead-letter.jsonl" >/dev/null 2>"$tmp/fill.err" ||
    { tail -n 5 "$tmp/fill.err" >&2; abort "filling the topic failed"; }
  rm -f "$tmp/fill.txt"
  filled=$(end_offsets "$t_in")
  ((filled == messages)) || abort "the filled topic holds $filled records, not $messages"
  fill_desc=$(grep -o 'delivered.*' "$tmp/fill.err" | tail -n1)
  read -r -a tp_order <<<"serve $anchors"
  for ((r = 1; r <= repeat; r++)); do
    # Round r starts at the r-th client (rotating), so no one always runs right after the
    # same neighbour (e.g. after kafka-python's ~20 CPU-seconds).
    for ((i = 0; i < ${#tp_order[@]}; i++)); do
      c=${tp_order[$(((i + r - 1) % ${#tp_order[@]}))]}
      sleep "$settle"
      if [[ "$c" == serve ]]; then run_serve "$r"; else run_anchor "$c" "$r"; fi
    done
  done
fi

# ---------------------------------------------------------------------------------------
# Phase 3: produce-to-view latency at a steady rate

lat_runs="$tmp/latency-runs.txt"
: >"$lat_runs"
if has_phase latency; then
  head -n "$lat_msgs" "$input" >"$tmp/latency-input.txt"
  for ci in ${intervals//,/ }; do
    sleep "$settle"
    d="$tmp/lat-$ci"
    mkdir -p "$d"
    t_lat="$prefix-lat-$ci"
    create_topics "$t_lat"
    serve_cmd "$d/serve.args" "$brokers" "$t_lat" "lat$ci" "$ci"
    write_args "$d/produce.args" "$sl" produce --brokers "$brokers" --topic "$t_lat" \
      --routes "$tmp/routes-none.yaml" --dead-letter "$tmp/dead-letter-lat.jsonl" \
      ${produce_args[@]+"${produce_args[@]}"}
    log "latency run, --commit-interval $ci: $rate msg/s for $duration s"
    res=$("$py" "$probe" latency "$d/serve.args" "$d/produce.args" "$tmp/latency-input.txt" \
      "$d" "$t_lat" "$rate" "$duration" "$sample_ms" 120)
    log "  $res"
    declare -A R=()
    for pair in $res; do R[${pair%%=*}]=${pair#*=}; done
    read -r wall user sys rss_kib < <(timefile "$d")
    check=${R[status]:-probe-failed}
    # Send times: the records' CreateTime, stamped by the producer's client at produce().
    kcat -C -b "$brokers" -t "$t_lat" -e -q -f '%T\n' 2>>"$tmp/kcat.log" >"$d/stamps.txt" || true
    stamps=$(wc -l <"$d/stamps.txt")
    [[ "$check" != ok || "$stamps" == "${R[written]}" ]] || check="stamps:$stamps!=${R[written]}"
    [[ "$check" != ok || "${R[consumed]}" == "${R[written]}" ]] || check="consumed:${R[consumed]}!=${R[written]}"
    [[ "$check" != ok ]] || { check=""; check_committed "lat$ci" "$t_lat" "${R[written]}"; check=${check:-ok}; }
    if [[ "$check" != ok ]]; then
      failed=1
      log "serve's standard error ends with:"
      tail -n 5 "$d/serve.err" >&2
      tail -n 5 "$d/produce.err" >&2 2>/dev/null || true
    fi
    declare -A A=()
    an=$("$py" "$probe" analyze "$d/samples.tsv" "$d/stamps.txt" "$d/pacer.tsv" "$d/metrics.txt" "$warmup_ms")
    log "  $an"
    for pair in $an; do A[${pair%%=*}]=${pair#*=}; done
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { if (u == "-") print "-"; else printf "%.2f", u + s }')
    rss_mib=$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')
    echo "$ci ${R[written]} ${R[rate]} ${A[samples]} ${A[p50]} ${A[p99]} ${A[max]} ${A[pacer_p50]} ${A[pacer_p99]} ${A[hist_p50]} ${A[hist_p99]} ${A[hist_count]} ${A[txns]} ${A[txn_cycle]} $cpu $rss_mib $(cut -d" " -f1 /proc/loadavg) $check" >>"$lat_runs"
    unset R A
  done
  if [[ -n "$anchors" ]]; then
    # Anchor: the same producer and pacing, a plain consumer instead of serve.
    sleep "$settle"
    d="$tmp/lat-anchor"
    mkdir -p "$d"
    t_lat="$prefix-lat-anchor"
    create_topics "$t_lat"
    write_args "$d/produce.args" "$sl" produce --brokers "$brokers" --topic "$t_lat" \
      --routes "$tmp/routes-none.yaml" --dead-letter "$tmp/dead-letter-lat.jsonl" \
      ${produce_args[@]+"${produce_args[@]}"}
    log "latency anchor: the same producer into a plain consumer (kafka-python), $rate msg/s for $duration s"
    res=$("$py" "$probe" latency_anchor "$d/produce.args" "$tmp/latency-input.txt" "$d" \
      "$brokers" "$t_lat" "$rate" "$duration" "$warmup_ms")
    log "  $res"
    declare -A R=()
    for pair in $res; do R[${pair%%=*}]=${pair#*=}; done
    check=${R[status]:-probe-failed}
    [[ "$check" == ok ]] || failed=1
    echo "plain-consumer ${R[written]} ${R[rate]} ${R[samples]} ${R[p50]} ${R[p99]} ${R[max]} - - - - - - - - - $(cut -d" " -f1 /proc/loadavg) $check" >>"$lat_runs"
    [[ "$check" == ok ]] && lat_anchor_p99=${R[p99]}
    unset R
  fi
fi
load_end=$(load_now)

# ---------------------------------------------------------------------------------------
# Report

echo "# serve_bench $started_at host=$(hostname) cpus=$(nproc)"
echo "# load at start: $load_start"
echo "# brokers: $brokers, $broker_desc; input topics: $PARTITIONS partitions, fresh group/changelog/output per run"
echo "# speedlayer: $speedlayer (built $sl_built, tree $sl_tree)${serve_args[*]:+ serve args: ${serve_args[*]}}${produce_args[*]:+ latency produce args: ${produce_args[*]}}"
echo "# input: gen_messages.py lines of $size bytes, sent by speedlayer produce as JSON strings ($((size + 2)) bytes)$( ((no_ids)) && echo ', message numbers replaced by a fixed word' || echo ', each with a unique 7-digit number term')"
[[ "$values" != object ]] ||
  echo "# throughput values: JSON objects {\"id\":N,\"text\":LINE,\"ts\":MS} (produce --format json; serve --text-field text --time-field ts)"
echo "# load at end: $load_end"
echo "# niceness of the measured processes: $(nice)"

if has_phase views-bench; then
  echo "#"
  echo "# pure aggregation without Kafka: ${vb_note}"
  if [[ -s "$vb_rows" ]]; then
    printf '%-28s %14s\n' benchmark items_per_s
    while read -r name ips; do printf '%-28s %14s\n' "$name" "$ips"; done <"$vb_rows"
    [[ -z "$vb_combined" ]] || printf '%-28s %14s\n' "extract+add(5000)" "$vb_combined"
  fi
fi

tp_per="" tp_rate=""
declare -A an_per=() an_rate=()
if has_phase throughput; then
  echo "#"
  echo "# throughput: serve --window 60s --commit-interval 100ms on a pre-filled topic of $messages messages ($fill_desc)"
  echo "# seconds: serve start until /v1/topics showed consumed == $messages (polled every ${poll_ms} ms); ready_s: until /readyz said ready;"
  echo "#   first_s: until the first records showed in /v1/topics; steady_recs_per_s: (records - first seen) / (seconds - first_s)"
  echo "# cpu_s: user+sys of the serve process at that moment (/proc); recs_per_cpu_s = records / cpu_s (the per-core figure, start-up included);"
  echo "#   steady_recs_per_cpu_s: the same from the first visible records on; broker_cpu_s: the broker's CPU meanwhile (own broker only)"
  if [[ -n "$anchors" ]]; then
    echo "# anchors (same topic, same rounds, order rotating per round; each reads all $messages records from the beginning, isolation.level=read_committed):"
    [[ " $anchors " != *" kcat "* ]] ||
      printf '%s\n' "#   kcat: kcat -C -b B -t T -o beginning -e -q -X isolation.level=read_committed -f '\\n' >FILE (no group; one byte per record out: the cheapest output, and it counts the records)"
    [[ " $anchors " != *" java-perf "* ]] ||
      echo "#   java-perf: Kafka 4.1.1 ConsumerPerformance (kafka-consumer-perf-test.sh) --messages $messages --group <fresh> --timeout 60000, consumer.config isolation.level=read_committed; seconds include the JVM start"
    [[ " $anchors " != *" kafka-python "* ]] ||
      echo "#   kafka-python: KafkaConsumer(group_id=None, isolation_level='read_committed'), assign + seek_to_beginning, poll until $messages records; values not decoded"
    echo "#   their seconds: exec to exit; cpu_s: user+sys of the process and its children (GNU time), exit included; broker_cpu_s: the broker's CPU over the run"
  fi
  tp_fmt='%-12s %6s %9s %8s %8s %8s %10s %17s %7s %14s %21s %12s %12s %6s %s\n'
  # shellcheck disable=SC2059
  printf "$tp_fmt" client run records seconds ready_s first_s recs_per_s steady_recs_per_s cpu_s \
    recs_per_cpu_s steady_recs_per_cpu_s peak_rss_mib broker_cpu_s load1 check
  while read -r -a f; do
    # shellcheck disable=SC2059
    printf "$tp_fmt" serve "${f[@]}"
  done <"$tp_runs"
  if ((repeat > 1)); then
    med=(serve median "$messages")
    for ((col = 3; col <= 13; col++)); do med+=("$(median_of "$col" "$tp_runs")"); done
    # shellcheck disable=SC2059
    printf "$tp_fmt" "${med[@]}" -
  fi
  echo "# serve's processor (its main thread: poll, aggregate, commit; not HTTP, not librdkafka's threads):"
  echo "#   processor_cpu_s: its user+sys at done; views_clients: clients polling /v1/views back to back meanwhile, views_per_s their answers per second"
  pr_fmt='%-12s %6s %16s %28s %13s %14s %11s %12s %s\n'
  # shellcheck disable=SC2059
  printf "$pr_fmt" client run processor_cpu_s recs_per_processor_cpu_s views_clients views_requests views_per_s views_failed check
  while read -r -a f; do
    # shellcheck disable=SC2059
    printf "$pr_fmt" serve "${f[@]}"
  done <"$pr_runs"
  tp_proc_per=$(median_of 3 "$pr_runs")
  if awk '$8 != "ok"' "$pr_runs" | grep -q .; then tp_proc_per=""; fi
  tp_per=$(median_of 9 "$tp_runs")
  tp_steady_per=$(median_of 10 "$tp_runs")
  tp_rate=$(median_of 6 "$tp_runs")
  if awk '$14 != "ok"' "$tp_runs" | grep -q .; then tp_per="" tp_steady_per="" tp_rate=""; fi
  for a in $anchors; do
    awk -v c="$a" '$1 == c' "$an_runs" >"$tmp/an-$a.txt"
    while read -r c r n w cpu a_rate per rss b load check _; do
      # shellcheck disable=SC2059
      printf "$tp_fmt" "$c" "$r" "$n" "$w" - - "$a_rate" - "$cpu" "$per" - "$rss" "$b" "$load" "$check"
    done <"$tmp/an-$a.txt"
    if ((repeat > 1)); then
      med=()
      for col in 4 5 6 7 8 9 10; do med+=("$(median_of "$col" "$tmp/an-$a.txt")"); done
      # shellcheck disable=SC2059
      printf "$tp_fmt" "$a" median "$messages" "${med[0]}" - - "${med[2]}" - "${med[1]}" "${med[3]}" - \
        "${med[4]}" "${med[5]}" "${med[6]}" -
    fi
    # A figure from runs that failed their checks is n/a.
    if ! awk '$11 != "ok"' "$tmp/an-$a.txt" | grep -q .; then
      an_per[$a]=$(median_of 7 "$tmp/an-$a.txt")
      an_rate[$a]=$(median_of 6 "$tmp/an-$a.txt")
    fi
  done
  if [[ " $anchors " == *" java-perf "* ]]; then
    echo "# java-perf's own figures (median; from its subscribe to the last record, JVM start excluded, rebalance included): $(median_of 12 "$tmp/an-java-perf.txt") recs/s" \
      "($(median_of 14 "$tmp/an-java-perf.txt") MB/s); fetch phase only (rebalance excluded): $(median_of 13 "$tmp/an-java-perf.txt") recs/s"
  fi
  for a in $anchors; do
    echo "# serve recs/CPU-s vs $a consume recs/CPU-s = $(ratio "$tp_per" "${an_per[$a]:-}" x)" \
      "(${tp_per:-n/a} / ${an_per[$a]:-n/a}); recs/s (wall, start-up included) = $(ratio "$tp_rate" "${an_rate[$a]:-}" x)" \
      "(${tp_rate:-n/a} / ${an_rate[$a]:-n/a})$( ((repeat > 1)) && echo ", medians of $repeat")"
  done
fi

declare -A p99_of=()
if has_phase latency; then
  echo "#"
  echo "# latency: $rate msg/s for ${duration} s into a fresh topic, /v1/topics sampled every ~${sample_ms} ms (jittered);"
  echo "#   view_p50/p99/max_ms: sample time - CreateTime of the c-th record, c = consumed in that sample (messages of the first ${warmup_ms} ms left out)"
  echo "#   pacer_p50/p99_ms: the same from the time the line was written to the producer's stdin"
  echo "#   hist_p50/p99_ms: serve's speedlayer_processing_latency_seconds (record timestamp -> processed, before the commit), interpolated in its buckets"
  echo "#   txns: committed transactions (speedlayer_transactions_total); txn_cycle_ms: first send to last sample / txns (commit interval + commit time)"
  echo "#   plain-consumer (anchor, no serve): the same producer and pacing into a fresh topic, read by kafka-python; view_* = receive time - CreateTime per record"
  printf '%-15s %7s %10s %7s %11s %11s %11s %12s %12s %11s %11s %10s %5s %12s %6s %12s %6s %s\n' commit_interval sent \
    sent_per_s samples view_p50_ms view_p99_ms view_max_ms pacer_p50_ms pacer_p99_ms hist_p50_ms \
    hist_p99_ms hist_count txns txn_cycle_ms cpu_s peak_rss_mib load1 check
  while read -r ci sent srate ns p50 p99 mx pp50 pp99 h50 h99 hc tx tc cpu rss load check; do
    printf '%-15s %7s %10s %7s %11s %11s %11s %12s %12s %11s %11s %10s %5s %12s %6s %12s %6s %s\n' "$ci" "$sent" \
      "$srate" "$ns" "$p50" "$p99" "$mx" "$pp50" "$pp99" "$h50" "$h99" "$hc" "$tx" "$tc" "$cpu" "$rss" "$load" "$check"
    [[ "$check" == ok ]] && p99_of[$ci]=$p99
  done <"$lat_runs"
fi

# Targets: a figure whose run failed its checks counts as not met.
yesno() { awk -v a="$1" -v b="$2" -v op="$3" 'BEGIN { if (a == "" || a == "-") print "n/a"; else if (op == "ge") print (a + 0 >= b ? "yes" : "no"); else print (a + 0 < b ? "yes" : "no") }'; }
targets="targets"
if has_phase throughput; then
  targets+=" serve_recs_per_s=${tp_rate:-n/a} serve_recs_per_cpu_s=${tp_per:-n/a} serve_steady_recs_per_cpu_s=${tp_steady_per:-n/a}"
  targets+=" serve_per_core_ge_1m=$(yesno "$tp_per" "$AGG_TARGET" ge)"
  targets+=" serve_recs_per_processor_cpu_s=${tp_proc_per:-n/a} views_clients=$views_clients"
  for a in $anchors; do
    targets+=" ${a//-/_}_consume_recs_per_cpu_s=${an_per[$a]:-n/a} serve_vs_${a//-/_}_per_cpu=$(ratio "$tp_per" "${an_per[$a]:-}")"
  done
fi
if has_phase views-bench; then
  targets+=" aggregation_recs_per_s=${vb_combined:-n/a} aggregation_ge_1m=$(yesno "$vb_combined" "$AGG_TARGET" ge)"
fi
if has_phase latency; then
  for ci in ${intervals//,/ }; do
    targets+=" p99_ms_commit_${ci}=${p99_of[$ci]:-n/a} p99_lt_20ms_commit_${ci}=$(yesno "${p99_of[$ci]:-}" "$P99_TARGET_MS" lt)"
  done
  [[ -z "$anchors" ]] || targets+=" plain_consumer_p99_ms=${lat_anchor_p99:-n/a}"
fi
targets+=" checks=$( ((failed)) && echo failed || echo ok)"
echo "$targets"
exit "$failed"
