#!/usr/bin/env bash
# Producer throughput benchmark: speedlayer against kcat, kafka-python and Kafka's Java
# ProducerPerformance, on a real broker, in one run. See bench/README.md.
#
#   bench/produce_bench.sh [--brokers B] [--messages N] [--size BYTES]
#                          [--python-messages N] [--repeat R] [--only LIST]
#                          [--speedlayer PATH] [--speedlayer-arg ARG]... [--replication R]
#
#   --brokers B          use this cluster (host:port,...) instead of starting a 1-node
#                        Kafka 4.1.1 in a temp dir (scripts/kafka-broker.sh)
#   --messages N         messages per contender (default 1000000)
#   --size BYTES         bytes per message line (default 100, at least 40)
#   --python-messages N  messages for kafka-python (default 200000: at ~10-15k msgs/s the
#                        full million takes minutes; its msgs/s stays comparable)
#   --repeat R           run every contender R times, fresh topics each time, and report
#                        the median msgs/s (default 1; use an odd R); each round starts
#                        one contender further down the list
#   --only LIST          comma-separated subset of: speedlayer-routing, speedlayer-plain,
#                        kcat, kafka-python, java-perf (default: all, in that order)
#   --speedlayer PATH    binary to measure (default build/src/app/speedlayer)
#   --speedlayer-arg ARG extra argument for both speedlayer runs (repeatable), e.g.
#                        --speedlayer-arg=--memory-limit=128Mi
#   --replication R      replication factor of the bench topics (default 1)
#
# Every contender gets fresh topics with 3 partitions, created before its clock starts, and
# acks=all. Each runs under /usr/bin/time (wall seconds, CPU seconds, peak RSS); then what
# arrived is checked: the sum of the topics' end offsets must equal the messages sent, and
# for the line-based contenders the distinct message numbers read back must too; the
# routed run must also put exactly the expected counts on its Sport/AI/default topics.
#
# Standard output is the report only: '#' lines are comments (machine load at start and end,
# input, per-run rows when R > 1), then a whitespace-separated table with a header line,
# then one "targets ..." line of key=value pairs. Progress goes to standard error.
# Exit status: 0 when every check passed, 1 when a contender failed (its exit status) or a
# count was wrong, or the bench could not run (broker, topics), 2 on bad usage. Temp files
# live in /tmp/produce-bench.XXXXXX and are removed at exit.
set -euo pipefail

bench_name=produce_bench
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
readonly PARTITIONS=3
readonly ALL_CONTENDERS="speedlayer-routing speedlayer-plain kcat kafka-python java-perf"
readonly RSS_TARGET_MIB=64
readonly settle=2  # seconds of pause before each timed run

brokers="" messages=1000000 size=100 py_messages=200000 repeat=1 only="" replication=1
speedlayer="$root/build/src/app/speedlayer"
sl_args=()
while (($#)); do
  case $1 in
    --brokers) brokers=${2:?}; shift 2 ;;
    --messages) messages=${2:?}; shift 2 ;;
    --size) size=${2:?}; shift 2 ;;
    --python-messages) py_messages=${2:?}; shift 2 ;;
    --repeat) repeat=${2:?}; shift 2 ;;
    --only) only=${2:?}; shift 2 ;;
    --speedlayer) speedlayer=${2:?}; shift 2 ;;
    --speedlayer-arg) sl_args+=("${2:?}"); shift 2 ;;
    --speedlayer-arg=*) sl_args+=("${1#--speedlayer-arg=}"); shift ;;
    --replication) replication=${2:?}; shift 2 ;;
    -h|--help) usage 0 ;;
    *) log "unknown argument: $1"; usage ;;
  esac
done
for n in messages size py_messages repeat replication; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || die "--${n//_/-} must be a positive number"
done
((size >= 40)) || die "--size must be at least 40"
((py_messages <= messages)) || py_messages=$messages
contenders=$ALL_CONTENDERS
[[ -z "$only" ]] || contenders=${only//,/ }
bench_check_list --only "$contenders" "$ALL_CONTENDERS"
bench_require_tools "$speedlayer"

# ---------------------------------------------------------------------------------------
# Temp dir, broker, clean-up

bench_setup produce-bench bench

load_start=$(load_now)
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)

bench_start_broker
bench_python

# Distinct message numbers read back from the topics (values start with the 7-digit number,
# after a '"' when JSON-encoded): a lost message lowers it, a duplicate does not raise it.
distinct_read_back() { # TOPIC...
  local t
  for t in "$@"; do kcat -C -b "$brokers" -t "$t" -e -q -f '%s\n' 2>>"$tmp/kcat.log"; done |
    LC_ALL=C awk '{ sub(/^"/, ""); print substr($0, 1, 7) }' | LC_ALL=C sort -u -S 200M -T "$tmp" | wc -l
}

# ---------------------------------------------------------------------------------------
# Input

log "generating $messages messages of $size bytes"
input="$tmp/messages.txt"
input_counts=$(python3 "$root/bench/gen_messages.py" "$messages" "$size" "$input")
exp_sport=$(sed -n 's/.*sport=\([0-9]*\).*/\1/p' <<<"$input_counts")
exp_ai=$(sed -n 's/.*ai=\([0-9]*\).*/\1/p' <<<"$input_counts")
exp_none=$(sed -n 's/.*none=\([0-9]*\).*/\1/p' <<<"$input_counts")
py_input="$tmp/messages-python.txt"
head -n "$py_messages" "$input" >"$py_input"
cat "$input" >/dev/null  # page cache: nobody pays for the first read

bench_copy_speedlayer "$speedlayer"  # a rebuild during the run must not change what we measure
bench_warm_up

# ---------------------------------------------------------------------------------------
# Contenders. Each run_<contender> ROUND sets: sent, and check (ok or what was wrong),
# own_rate (the tool's own msgs/s figure, or -), after running its command through timed.

timed() { # OUT ERR CMD... ; sets wall, cpu, rss_kib, status
  local out=$1 err=$2
  shift 2
  status=0
  /usr/bin/time -f '%e %U %S %M' -o "$tmp/time.txt" "$@" >"$out" 2>"$err" || status=$?
  read -r wall user sys rss_kib < <(tail -n1 "$tmp/time.txt")
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
}

expect_count() { # TOPIC EXPECTED LABEL: appends a problem to check when the count differs
  local got
  got=$(end_offsets "$1") || true
  got=${got:-0}
  arrived=$((arrived + got))
  ((got == $2)) || check+="${check:+,}$3:$got!=$2"
}

expect_distinct() { # EXPECTED TOPIC...
  local want=$1 got
  shift
  got=$(distinct_read_back "$@") || true
  got=${got:-0}
  ((got == want)) || check+="${check:+,}distinct:$got!=$want"
}

speedlayer_own_rate() { # ERR_FILE: the msg/s of its summary line
  local r
  r=$(sed -n 's/.*(\([0-9,.]*\) msg\/s).*/\1/p' "$1" | tail -n1 | tr -d ,)
  if [[ -n "$r" ]]; then awk -v r="$r" 'BEGIN { print int(r) }'; else echo -; fi
}

run_speedlayer_routing() {
  local t="$prefix-r$1-routing"
  create_topics "$t-sport" "$t-ai" "$t-default"
  cat >"$tmp/routes.yaml" <<EOF
default_topic: $t-default
routes:
  - topic: $t-sport
    keywords: [basketball, football, messi]
  - topic: $t-ai
    keywords: [AI, ML, NLP, CV]
EOF
  sent=$messages
  timed "$tmp/out" "$tmp/err" "$sl" produce --brokers "$brokers" --topic "$t-default" \
    --routes "$tmp/routes.yaml" --input "$input" --dead-letter "$tmp/dead-letter.jsonl" \
    ${sl_args[@]+"${sl_args[@]}"}
  expect_count "$t-sport" "$exp_sport" sport
  expect_count "$t-ai" "$exp_ai" ai
  expect_count "$t-default" "$exp_none" default
  expect_distinct "$sent" "$t-sport" "$t-ai" "$t-default"
  own_rate=$(speedlayer_own_rate "$tmp/err")
}

run_speedlayer_plain() {
  local t="$prefix-r$1-plain"
  create_topics "$t"
  printf 'default_topic: %s\nroutes: []\n' "$t" >"$tmp/routes-none.yaml"
  sent=$messages
  timed "$tmp/out" "$tmp/err" "$sl" produce --brokers "$brokers" --topic "$t" \
    --routes "$tmp/routes-none.yaml" --input "$input" --dead-letter "$tmp/dead-letter.jsonl" \
    ${sl_args[@]+"${sl_args[@]}"}
  expect_count "$t" "$sent" count
  expect_distinct "$sent" "$t"
  own_rate=$(speedlayer_own_rate "$tmp/err")
}

run_kcat() {
  local t="$prefix-r$1-kcat"
  create_topics "$t"
  sent=$messages
  # One message per line of standard input (kcat -P FILE would send the file as one message).
  # shellcheck disable=SC2016  # $1..$3 are sh -c's own arguments
  timed "$tmp/out" "$tmp/err" sh -c 'exec kcat -P -b "$1" -t "$2" -X enable.idempotence=true -X acks=all <"$3"' \
    kcat "$brokers" "$t" "$input"
  expect_count "$t" "$sent" count
  expect_distinct "$sent" "$t"
  own_rate=-
}

run_kafka_python() {
  local t="$prefix-r$1-python"
  create_topics "$t"
  sent=$py_messages
  timed "$tmp/out" "$tmp/err" "$py" "$root/bench/kafka_python_producer.py" "$brokers" "$t" "$py_input"
  expect_count "$t" "$sent" count
  expect_distinct "$sent" "$t"
  own_rate=-
}

run_java_perf() {
  local t="$prefix-r$1-java"
  create_topics "$t"
  sent=$messages
  timed "$tmp/out" "$tmp/err" "$root/scripts/kafka-broker.sh" run-class \
    org.apache.kafka.tools.ProducerPerformance --topic "$t" --num-records "$messages" \
    --record-size "$size" --throughput -1 --producer-props bootstrap.servers="$brokers" acks=all
  expect_count "$t" "$sent" count
  # Its last "N records sent, X records/sec (...)" line is its own measurement.
  own_rate=$(grep 'records sent' "$tmp/out" | tail -n1 | awk '{ print ($4 == "" ? "-" : int($4)) }')
  [[ -n "$own_rate" ]] || own_rate=-
}

# ---------------------------------------------------------------------------------------
# Runs

runs="$tmp/runs.txt"  # contender round sent wall cpu rate rss_mib arrived check own_rate
: >"$runs"
failed=0
read -r -a order <<<"$contenders"
for ((round = 1; round <= repeat; round++)); do
  # Round r starts at the r-th contender (rotating), so no one always runs right after the
  # same neighbour (e.g. after java-perf's 1 GB of writes); a short pause lets the broker settle.
  for ((i = 0; i < ${#order[@]}; i++)); do
    c=${order[$(((i + round - 1) % ${#order[@]}))]}
    sleep "$settle"
    log "round $round/$repeat: $c"
    check="" arrived=0 own_rate=- sent=0
    "run_${c//-/_}" "$round"
    if ((status != 0)); then
      check="exit:$status${check:+,$check}"
      log "$c exited with status $status; its standard error ends with:"
      tail -n 5 "$tmp/err" >&2
    fi
    [[ -n "$check" ]] || check=ok
    [[ "$check" == ok ]] || failed=1
    rate=$(awk -v n="$sent" -v s="$wall" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }')
    rss_mib=$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')
    echo "$c $round $sent $wall $cpu $rate $rss_mib $arrived $check $own_rate" >>"$runs"
    log "$c: $sent in $wall s = $rate msgs/s, cpu $cpu s, peak RSS $rss_mib MiB, arrived $arrived, $check"
  done
done
load_end=$(load_now)

# ---------------------------------------------------------------------------------------
# Report

# The run with the median msgs/s (lower middle for an even count) stands for the contender;
# peak RSS is the largest of its runs; check is ok only if every run was.
summary() { # CONTENDER -> "sent wall cpu rate rss_mib arrived check own_rate"
  local rows med rss check
  rows=$(awk -v c="$1" '$1 == c' "$runs" | sort -k6,6n)
  [[ -n "$rows" ]] || return 0
  med=$(awk -v n="$(wc -l <<<"$rows")" 'NR == int((n + 1) / 2)' <<<"$rows")
  rss=$(awk '{ if ($7 > m) m = $7 } END { printf "%.1f", m }' <<<"$rows")
  check=$(awk '$9 != "ok" { bad = bad (bad ? ";" : "") $9 } END { print (bad ? bad : "ok") }' <<<"$rows")
  awk -v rss="$rss" -v check="$check" '{ print $3, $4, $5, $6, rss, $8, check, $10 }' <<<"$med"
}

kcat_rate=""
if [[ " $contenders " == *" kcat "* ]]; then
  read -r _ _ _ kcat_rate _ <<<"$(summary kcat)"
fi

echo "# produce_bench $started_at host=$(hostname) cpus=$(nproc)"
echo "# load at start: $load_start"
echo "# brokers: $brokers, $broker_desc; topics: $PARTITIONS partitions, replication $replication, fresh per run"
echo "# input: $messages messages x $size bytes, deterministic: $input_counts (Sport/AI/default rules)"
echo "# speedlayer: $speedlayer (built $sl_built, tree $sl_tree)${sl_args[*]:+ args: ${sl_args[*]}}"
echo "# all contenders acks=all; speedlayer, kcat and java-perf idempotent; kafka-python is the founding code + acks=all"
if [[ " $contenders " == *" kafka-python "* ]] && ((py_messages != messages)); then
  echo "# kafka-python ran on $py_messages messages (not $messages): compare its msgs/s, not its seconds"
fi
echo "# seconds = wall clock of the whole process (start-up, connect, send, final flush); msgs/s = messages / seconds"
echo "# cpu_s = user+sys CPU of the process; own_msgs_per_s = the tool's own figure where it prints one"
if ((repeat > 1)); then
  echo "# $repeat rounds; table rows are the median-msgs/s run of each contender, peak RSS the largest. Runs:"
  echo "# contender round messages seconds cpu_s msgs_per_s peak_rss_mib arrived check own_msgs_per_s"
  sed 's/^/#   /' "$runs"
fi
echo "# load at end: $load_end"
printf '%-20s %9s %8s %7s %10s %7s %12s %9s %-8s %14s\n' contender messages seconds cpu_s \
  msgs_per_s vs_kcat peak_rss_mib arrived check own_msgs_per_s
sl_rate="" sl_rss="" sl_check="" kcat_check=""
for c in $contenders; do
  read -r sent wall cpu rate rss_mib arrived check own_rate <<<"$(summary "$c")"
  ratio=-
  [[ -n "$kcat_rate" && "$kcat_rate" != 0 ]] && ratio=$(awk -v r="$rate" -v k="$kcat_rate" 'BEGIN { printf "%.2f", r / k }')
  printf '%-20s %9s %8s %7s %10s %7s %12s %9s %-8s %14s\n' "$c" "$sent" "$wall" "$cpu" "$rate" \
    "$ratio" "$rss_mib" "$arrived" "$check" "$own_rate"
  if [[ "$c" == speedlayer-routing ]]; then sl_rate=$rate sl_rss=$rss_mib sl_check=$check; fi
  if [[ "$c" == kcat ]]; then kcat_check=$check; fi
done

# A target counts as met only when the runs behind it passed their count checks.
rate_ok=n/a rss_ok=n/a
if [[ -n "$sl_rate" && -n "$kcat_rate" ]]; then
  rate_ok=$(awk -v a="$sl_rate" -v b="$kcat_rate" 'BEGIN { print (a >= b ? "yes" : "no") }')
  [[ "$sl_check" == ok && "$kcat_check" == ok ]] || rate_ok=no
fi
if [[ -n "$sl_rss" ]]; then
  rss_ok=$(awk -v a="$sl_rss" -v b="$RSS_TARGET_MIB" 'BEGIN { print (a < b ? "yes" : "no") }')
  [[ "$sl_check" == ok ]] || rss_ok=no
fi
echo "targets speedlayer_routing_msgs_per_s=${sl_rate:-n/a} kcat_msgs_per_s=${kcat_rate:-n/a}" \
  "rate_ge_kcat=$rate_ok speedlayer_routing_peak_rss_mib=${sl_rss:-n/a}" \
  "rss_lt_${RSS_TARGET_MIB}mib=$rss_ok checks=$( ((failed)) && echo failed || echo ok)"
exit "$failed"
