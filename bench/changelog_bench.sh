#!/usr/bin/env bash
# What serve's state costs in Kafka (issue 12, "Targets"): changelog bytes per input byte at
# steady rates, and the time a killed replica takes to be ready again on an hour of state.
# See bench/README.md ("changelog_bench.sh").
#
#   bench/changelog_bench.sh [--brokers B --log-dir DIR] [--rates LIST] [--kinds LIST]
#                            [--duration S] [--restore-records N] [--only LIST]
#                            [--speedlayer PATH] [--serve-arg ARG]... [--keep] [--nice N]
#
#   --brokers B           use this broker (host:port) instead of starting a 1-node Kafka 4.1.1
#                         in a temp dir (scripts/kafka-broker.sh); needs --log-dir; the bench
#                         topics are deleted at the end
#   --log-dir DIR         with --brokers: the broker's log.dirs (one directory, readable here),
#                         for the on-disk sizes
#   --rates LIST          amplification: messages per second, comma-separated
#                         (default 100,1000,10000)
#   --kinds LIST          amplification: input texts, comma-separated subset of generator, ids
#                         (default both)
#   --duration S          amplification: seconds of sending per run (default 30)
#   --restore-records N   restore: records in the topic, event times over the last hour
#                         (default 3600000)
#   --only LIST           comma-separated subset of: amplification, restore
#   --speedlayer PATH     binary to measure (default build/src/app/speedlayer; copied at start)
#   --serve-arg ARG       extra argument for every `speedlayer serve` (repeatable)
#   --keep                keep the temp dir (serve logs, inputs, the broker's data) and say where
#   --nice N              renice the script (the broker, serve and producers inherit it)
#
# Amplification: per kind and rate, a fresh 3-partition input topic and a fresh serve (own
# group, changelog, output topic, transactional id; --commit-interval 100ms); once /readyz
# says ready, RATE msg/s for S seconds: `speedlayer produce --generate` (kind generator) or
# bench/gen_messages.py lines, each with a unique 7-digit id, paced into `speedlayer produce`
# (kind ids). When /v1/topics shows every record consumed, serve gets SIGTERM; then the input,
# changelog and output topics are measured on disk (their *.log segment files) and
# logically (key + value bytes of every record, read back with kcat, read_committed).
# Restore: N JSON objects {"text","ts"} over the last hour, serve --time-field ts --window 60s
# --retention 2h until all are consumed and committed, kill -9, the same serve again: seconds
# until /readyz says ready, and the counts after it must equal those before.
#
# Standard output is the report only: '#' lines are comments, then one table per phase, then
# one "targets ..." line of key=value pairs. Progress goes to standard error. Exit status: 0
# when every check passed (whether or not the targets were met), 1 when a check failed (a
# count not exact, serve exited non-zero or its /metrics counted an aborted transaction or a
# failed commit, a produce did not deliver everything) or the bench could not run (broker,
# topics), 2 on bad usage.
set -euo pipefail

bench_name=changelog_bench
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
readonly PARTITIONS=3
readonly ALL_PHASES="amplification restore"
readonly ALL_KINDS="generator ids"
readonly RESTORE_READY_TARGET_S=5
readonly helper="$root/bench/changelog_bench_helper.py"

brokers="" log_dir="" rates="100,1000,10000" kinds="generator,ids" duration=30
restore_records=3600000 only="" keep=0 niceness=""
speedlayer="$root/build/src/app/speedlayer"
serve_args=()
while (($#)); do
  case $1 in
    --brokers) brokers=${2:?}; shift 2 ;;
    --log-dir) log_dir=${2:?}; shift 2 ;;
    --rates) rates=${2:?}; shift 2 ;;
    --kinds) kinds=${2:?}; shift 2 ;;
    --duration) duration=${2:?}; shift 2 ;;
    --restore-records) restore_records=${2:?}; shift 2 ;;
    --only) only=${2:?}; shift 2 ;;
    --speedlayer) speedlayer=${2:?}; shift 2 ;;
    --serve-arg) serve_args+=("${2:?}"); shift 2 ;;
    --serve-arg=*) serve_args+=("${1#--serve-arg=}"); shift ;;
    --keep) keep=1; shift ;;
    --nice) niceness=${2:?}; shift 2 ;;
    -h|--help) usage 0 ;;
    *) log "unknown argument: $1"; usage ;;
  esac
done
for n in duration restore_records; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || die "--${n//_/-} must be a positive number"
done
((restore_records <= 9999999)) || die "--restore-records: at most 9999999 (7-digit ids)"
[[ "$rates" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--rates: e.g. 100,1000,10000"
rates=${rates//,/ }
kinds=${kinds//,/ }
bench_check_list --kinds "$kinds" "$ALL_KINDS"
phases=$ALL_PHASES
[[ -z "$only" ]] || phases=${only//,/ }
bench_check_list --only "$phases" "$ALL_PHASES"
has_phase() { [[ " $phases " == *" $1 "* ]]; }
if [[ -n "$brokers" ]]; then
  [[ -n "$log_dir" ]] || die "--brokers needs --log-dir DIR (the broker's log.dirs, for the on-disk sizes)"
  [[ -d "$log_dir" ]] || die "--log-dir $log_dir is not a directory"
elif [[ -n "$log_dir" ]]; then
  die "--log-dir goes with --brokers"
fi
[[ -z "$niceness" ]] || bench_renice "$niceness"
bench_require_tools "$speedlayer"

# ---------------------------------------------------------------------------------------
# Temp dir, broker, clean-up

bench_setup changelog-bench clbench

now_ms() { date +%s%3N; }
secs_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.2f", (b - a) / 1000 }'; }
load_start=$(load_now)
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
t_script=$(now_ms)

bench_copy_speedlayer "$speedlayer"  # first: others may rebuild build/ while this runs
sl_sum=$(sha256sum "$sl" | cut -c1-12)
sl_version=$("$sl" --version 2>/dev/null | head -n1 || echo unknown)
serve_help=$("$sl" serve --help 2>&1 || true)
for flag in --topic --group --changelog-topic --output-topic --transactional-id \
  --commit-interval --listen --window --retention --time-field; do
  grep -q -- "$flag\b" <<<"$serve_help" || die "$speedlayer serve has no $flag (serve --help)"
done
produce_help=$("$sl" produce --help 2>&1 || true)
for flag in --generate --rate --count --routes --format --input --dead-letter; do
  grep -q -- "$flag\b" <<<"$produce_help" || die "$speedlayer produce has no $flag (produce --help)"
done

bench_start_broker
bench_python
if ((own_broker)); then
  log_dir=$broker_log_dir
  broker_version=$(grep -m1 -o 'Kafka version: [^ ]*' "$tmp/kafka/node-1/broker.log" 2>/dev/null |
    sed 's/.*: //' || true)
  broker_desc="own 1-node Kafka ${broker_version:-4.1.1} (scripts/kafka-broker.sh), log dir $log_dir"
else
  broker_desc="given with --brokers (version not probed), log dir $log_dir"
fi

# ---------------------------------------------------------------------------------------
# Kafka helpers

disk_bytes() { # TOPIC -> "BYTES MAX_SEGMENTS": the *.log segment files of its partition directories
  local d name n total=0 segs max=0 f sz
  for d in "$log_dir/$1"-*; do
    [[ -d "$d" ]] || continue
    name=${d##*/}
    n=${name#"$1"-}
    [[ "$n" =~ ^[0-9]+$ ]] || continue
    segs=0
    for f in "$d"/*.log; do
      [[ -f "$f" ]] || continue
      sz=$(stat -c %s "$f")
      total=$((total + sz))
      segs=$((segs + 1))
    done
    ((segs > max)) && max=$segs
  done
  echo "$total $max"
}

logical_bytes() { # TOPIC -> "RECORDS BYTES": key + value bytes of every committed record
  # %K / %S: key and value length, -1 for null (a tombstone counts its key).
  timeout 900 kcat -C -b "$brokers" -t "$1" -o beginning -e -q -X isolation.level=read_committed \
    -f '%K %S\n' 2>>"$tmp/kcat.log" |
    awk '{ r++; if ($1 > 0) s += $1; if ($2 > 0) s += $2 } END { printf "%d %d\n", r, s }'
}

# Background processes: NAME's pid in $tmp/NAME.pid (the trap ends them), reaped by bg_wait.
bg_wait() { # NAME -> sets bg_rc to the exit status
  local pid
  pid=$(cat "$tmp/$1.pid")
  bg_rc=0
  wait "$pid" || bg_rc=$?
  rm -f "$tmp/$1.pid"
}

serve_pid=0 serve_t0=0
start_serve() { # DIR ARG...: serve in the background, stderr in DIR/serve.err
  local d=$1
  shift
  printf '%s\n' "$@" >"$d/serve.args"
  serve_t0=$(now_ms)
  "$sl" serve "$@" </dev/null >"$d/serve.out" 2>"$d/serve.err" &
  serve_pid=$!
  echo "$serve_pid" >"$tmp/serve.pid"
}

stop_serve() { # SIGNAL -> sets serve_rc (SIGTERM: SIGKILL after 30 s, and serve_rc=timeout)
  local i
  kill "-$1" "$serve_pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do running "$serve_pid" || break; sleep 0.1; done
  if running "$serve_pid"; then
    kill -KILL "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
    serve_rc=timeout
  else
    serve_rc=0
    wait "$serve_pid" 2>/dev/null || serve_rc=$?
  fi
  rm -f "$tmp/serve.pid"
}

peak_rss_mib() { # PID: VmHWM of a live process in MiB, or -
  awk '/^VmHWM:/ { printf "%.1f", $2 / 1024; f = 1 } END { if (!f) print "-" }' "/proc/$1/status" 2>/dev/null || echo -
}

parse_kv() { # TEXT -> fills the associative array KV
  local pair
  KV=()
  for pair in $1; do KV[${pair%%=*}]=${pair#*=}; done
}

# What serve's /metrics counted as failed (aborted transactions, failed commits). Appends to check.
check_serve_metrics() { # PORT
  local aborted failures
  aborted=$(python3 "$helper" metric "$1" speedlayer_transactions_aborted_total)
  failures=$(python3 "$helper" metric "$1" speedlayer_commit_failures_total)
  [[ "$aborted" == 0 ]] || check+="${check:+,}aborted:$aborted"
  [[ "$failures" == 0 ]] || check+="${check:+,}commit-failures:$failures"
}

serve_common() { # NAME: serve's arguments for a fresh group / changelog / output / txn id per NAME
  printf '%s\n' --brokers "$brokers" --group "$prefix-$1-group" --changelog-topic "$prefix-$1-changelog" \
    --output-topic "$prefix-$1-views" --transactional-id "$prefix-$1-txn" --commit-interval 100ms \
    --listen 127.0.0.1:0
}

printf 'default_topic: unused\nroutes: []\n' >"$tmp/routes-none.yaml"
failed=0
declare -A KV=()

bench_warm_up

# ---------------------------------------------------------------------------------------
# Phase 1: amplification at steady rates

amp_rows="$tmp/amp-rows.txt"
: >"$amp_rows"
max_segments=0
target_for() { if (($1 >= 1000)); then echo 1.0; else echo 3.0; fi; }

amp_run() { # KIND RATE
  local kind=$1 rate=$2 name="$1-$2" d="$tmp/amp-$1-$2" t_in sent check="" n_off rc
  local in_disk cl_disk out_disk segs in_log cl_log out_log cpu rss txns
  mkdir -p "$d"
  t_in="$prefix-$name-in"
  sent=$((rate * duration))
  create_topics "$t_in"
  local args
  mapfile -t args < <(serve_common "$name")
  start_serve "$d" "${args[@]}" --topic "$t_in" ${serve_args[@]+"${serve_args[@]}"}
  parse_kv "$(python3 "$helper" wait-ready "$d/serve.err" "$serve_pid" "$serve_t0" 120)"
  local port=${KV[port]}
  if [[ "${KV[status]}" != ok ]]; then
    check="serve:${KV[status]}"
  else
    log "amplification $kind at $rate msg/s: serve ready in ${KV[ready_s]} s; sending $sent messages for $duration s"
    if [[ "$kind" == generator ]]; then
      "$sl" produce --brokers "$brokers" --topic "$t_in" --routes "$tmp/routes-none.yaml" \
        --generate --rate "$rate" --count "$sent" --dead-letter "$d/dead-letter.jsonl" \
        </dev/null >"$d/produce.out" 2>"$d/produce.err" &
      echo $! >"$tmp/produce.pid"
      bg_wait produce
      rc=$bg_rc
    else
      rm -f "$d/fifo"
      mkfifo "$d/fifo"
      "$sl" produce --brokers "$brokers" --topic "$t_in" --routes "$tmp/routes-none.yaml" \
        --dead-letter "$d/dead-letter.jsonl" <"$d/fifo" >"$d/produce.out" 2>"$d/produce.err" &
      echo $! >"$tmp/produce.pid"
      python3 "$helper" pace "$rate" "$duration" "$tmp/ids.txt" >"$d/fifo" 2>"$d/pace.err" &
      echo $! >"$tmp/pace.pid"
      bg_wait pace
      local prc=$bg_rc
      bg_wait produce
      rc=$bg_rc
      ((prc == 0)) || check="pace-exit:$prc"
      log "  pacer: $(cat "$d/pace.err")"
    fi
    ((rc == 0)) || check+="${check:+,}produce-exit:$rc"
    n_off=$(end_offsets "$t_in")
    ((n_off == sent)) || check+="${check:+,}delivered:$n_off!=$sent"
    parse_kv "$(python3 "$helper" wait-consumed "$port" "$t_in" "$n_off" 180 "$serve_pid")"
    log "  view: ${KV[*]}"
    if [[ "${KV[status]}" != ok ]]; then
      check+="${check:+,}view:${KV[status]}"
    elif [[ "${KV[consumed]}" != "$sent" ]]; then
      check+="${check:+,}consumed:${KV[consumed]}!=$sent"
    fi
  fi
  txns=-
  if [[ "$port" =~ ^[0-9]+$ ]]; then
    txns=$(python3 "$helper" metric "$port" speedlayer_transactions_total)
    check_serve_metrics "$port"
  fi
  cpu=$(proc_cpu "$serve_pid")
  rss=$(peak_rss_mib "$serve_pid")
  stop_serve TERM
  [[ "$serve_rc" == 0 ]] || check+="${check:+,}serve-exit:$serve_rc"
  if [[ -n "$check" ]]; then
    failed=1
    log "  check failed: $check; serve's standard error ends with:"
    tail -n 5 "$d/serve.err" >&2
    tail -n 3 "$d/produce.err" >&2 2>/dev/null || true
  fi
  read -r in_disk segs < <(disk_bytes "$t_in")
  ((segs > max_segments)) && max_segments=$segs
  read -r cl_disk segs < <(disk_bytes "$prefix-$name-changelog")
  ((segs > max_segments)) && max_segments=$segs
  read -r out_disk segs < <(disk_bytes "$prefix-$name-views")
  ((segs > max_segments)) && max_segments=$segs
  log "  reading the topics back with kcat"
  in_log=$(logical_bytes "$t_in")
  cl_log=$(logical_bytes "$prefix-$name-changelog")
  out_log=$(logical_bytes "$prefix-$name-views")
  local rd rl target met
  rd=$(ratio "$cl_disk" "$in_disk")
  rl=$(ratio "${cl_log#* }" "${in_log#* }")
  target=$(target_for "$rate")
  met=$(awk -v a="$rd" -v b="$rl" -v t="$target" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else print (a + 0 <= t && b + 0 <= t ? "yes" : "no") }')
  [[ -z "$check" ]] || met=n/a
  # kind rate records in_disk cl_disk out_disk ratio_disk in_log cl_log cl_recs out_log ratio_log target met txns cpu rss load check
  echo "$kind $rate $sent $in_disk $cl_disk $out_disk $rd ${in_log#* } ${cl_log#* } ${cl_log% *} ${out_log#* } $rl $target $met $txns $cpu $rss $(cut -d' ' -f1 /proc/loadavg) ${check:-ok}" >>"$amp_rows"
  log "  $(tail -n1 "$amp_rows")"
}

if has_phase amplification; then
  max_rate=0
  for r in $rates; do ((r > max_rate)) && max_rate=$r; done
  if [[ " $kinds " == *" ids "* ]]; then
    log "generating $((max_rate * duration)) id lines (gen_messages.py)"
    python3 "$root/bench/gen_messages.py" "$((max_rate * duration))" 90 "$tmp/ids.txt" >/dev/null
  fi
  for kind in $kinds; do
    for r in $rates; do
      sleep 2
      amp_run "$kind" "$r"
    done
  done
fi

# ---------------------------------------------------------------------------------------
# Phase 2: restore after kill -9

rs_row=""
rs_phases=""
rs_note=""
if has_phase restore; then
  n=$restore_records
  d="$tmp/restore"
  mkdir -p "$d"
  t_rs="$prefix-restore-in"
  check=""
  log "generating $n JSON records over the last hour"
  gen=$(python3 "$helper" gen-restore "$n" "$tmp/restore.jsonl")
  create_topics "$t_rs"
  log "filling $t_rs (speedlayer produce --format json)"
  t0=$(now_ms)
  rc=0
  "$sl" produce --brokers "$brokers" --topic "$t_rs" --routes "$tmp/routes-none.yaml" --format json \
    --input "$tmp/restore.jsonl" --dead-letter "$d/dead-letter.jsonl" </dev/null >/dev/null 2>"$d/fill.err" &
  echo $! >"$tmp/produce.pid"
  bg_wait produce
  rc=$bg_rc
  fill_s=$(secs_since "$t0")
  filled=$(end_offsets "$t_rs")
  ((rc == 0)) || check="fill-exit:$rc"
  ((filled == n)) || check+="${check:+,}delivered:$filled!=$n"
  # The values must be the generated JSON as it is (a first record, byte for byte; of any
  # partition: a small N may all go to one partition, sticky partitioning).
  first_read=$(kcat -C -b "$brokers" -t "$t_rs" -o beginning -c 1 -e -q -f '%s\n' 2>>"$tmp/kcat.log" | head -n1)
  [[ "$first_read" == '{"text":"'* ]] && grep -qFx -- "$first_read" "$tmp/restore.jsonl" ||
    check+="${check:+,}value-changed"
  rm -f "$tmp/restore.jsonl"
  mapfile -t args < <(serve_common restore)
  args+=(--topic "$t_rs" --time-field ts --window 60s --retention 2h ${serve_args[@]+"${serve_args[@]}"})
  log "restore: serve until $n records are consumed"
  start_serve "$d" "${args[@]}"
  parse_kv "$(python3 "$helper" wait-ready "$d/serve.err" "$serve_pid" "$serve_t0" 120)"
  port=${KV[port]}
  catchup_s=- commit_s=- rss1=- views1=- ready_s=- consumed_ready=- consumed2=- views2=- rss2=-
  cl_disk=- cl_segs=- cl_log="- -" catchup2_s=-
  if [[ "${KV[status]}" != ok ]]; then
    check+="${check:+,}serve:${KV[status]}"
  else
    parse_kv "$(python3 "$helper" wait-consumed "$port" "$t_rs" "$n" $((n / 20000 + 300)) "$serve_pid")"
    log "  view: ${KV[*]}"
    catchup_s=$(secs_since "$serve_t0")
    if [[ "${KV[status]}" != ok || "${KV[consumed]}" != "$n" ]]; then
      check+="${check:+,}consumed:${KV[consumed]}!=$n(${KV[status]})"
    else
      # Kill only once the state of every record is committed (offsets and changelog are in
      # one transaction): the group's committed offsets reach the end of the topic.
      t0=$(now_ms)
      committed=0
      while ((committed != n)) && (($(now_ms) - t0 < 120000)); do
        committed=$(committed_offsets "$prefix-restore-group" "$t_rs")
        ((committed == n)) || sleep 0.5
      done
      commit_s=$(secs_since "$t0")
      ((committed == n)) || check+="${check:+,}committed:$committed!=$n"
      parse_kv "$(python3 "$helper" views-sum "$port" "$t_rs")"
      views1=${KV[views_sum]}
      windows1=${KV[windows]}
      rss1=$(peak_rss_mib "$serve_pid")
      check_serve_metrics "$port"
      log "  committed $committed; views sum $views1 in $windows1 windows; kill -9"
      stop_serve KILL
      read -r cl_disk cl_segs < <(disk_bytes "$prefix-restore-changelog")
      sleep 1
      log "  restarting serve"
      mv "$d/serve.err" "$d/serve-killed.err"
      start_serve "$d" "${args[@]}"
      parse_kv "$(python3 "$helper" wait-ready "$d/serve.err" "$serve_pid" "$serve_t0" 300)"
      port=${KV[port]}
      if [[ "${KV[status]}" != ok ]]; then
        check+="${check:+,}restart:${KV[status]}"
      else
        ready_s=${KV[ready_s]}
        rs_phases=${KV[phases]}
        parse_kv "$(python3 "$helper" totals "$port" "$t_rs")"
        consumed_ready=${KV[consumed]}
        parse_kv "$(python3 "$helper" wait-consumed "$port" "$t_rs" "$n" 120 "$serve_pid")"
        consumed2=${KV[consumed]}
        catchup2_s=$(secs_since "$serve_t0")
        [[ "$consumed2" == "$n" ]] || check+="${check:+,}consumed-after:$consumed2!=$n"
        parse_kv "$(python3 "$helper" views-sum "$port" "$t_rs")"
        views2=${KV[views_sum]}
        [[ "$views2" == "$views1" ]] || check+="${check:+,}views:$views2!=$views1"
        [[ "$views1" == "$n" ]] || rs_note="the view holds $views1 of $n records before the kill (late or expired?)"
        rss2=$(peak_rss_mib "$serve_pid")
        check_serve_metrics "$port"
      fi
    fi
  fi
  stop_serve TERM
  [[ "$serve_rc" == 0 ]] || check+="${check:+,}serve-exit:$serve_rc"
  if [[ -n "$check" ]]; then
    failed=1
    log "  check failed: $check; serve's standard error ends with:"
    tail -n 5 "$d/serve-killed.err" "$d/serve.err" >&2 2>/dev/null || true
  fi
  log "  reading the changelog back with kcat"
  cl_log=$(logical_bytes "$prefix-restore-changelog")
  # records fill_s catchup_s commit_wait_s cl_disk cl_segs cl_recs cl_log rss1 ready_s consumed_at_ready consumed views_before views_after catchup2_s rss2 check
  rs_row="$n $fill_s $catchup_s $commit_s $cl_disk $cl_segs ${cl_log% *} ${cl_log#* } $rss1 $ready_s $consumed_ready $consumed2 $views1 $views2 $catchup2_s $rss2 $(cut -d' ' -f1 /proc/loadavg) ${check:-ok}"
  log "  $rs_row"
  rs_gen=$gen
fi
load_end=$(load_now)

# ---------------------------------------------------------------------------------------
# Report

echo "# changelog_bench $started_at host=$(hostname) cpus=$(nproc), $(secs_since "$t_script") s"
echo "# load at start: $load_start"
echo "# load at end: $load_end"
echo "# niceness of the measured processes: $(nice)"
echo "# brokers: $brokers, $broker_desc"
echo "# speedlayer: $speedlayer ($sl_version, sha256 $sl_sum..., built $sl_built)${serve_args[*]:+ serve args: ${serve_args[*]}}"
echo "# serve: fresh group, changelog (serve creates it: 6 partitions, cleanup.policy=compact), output topic and transactional id per run; --commit-interval 100ms"
echo "# on disk (*_disk): sum of the *.log segment files of the topic's partition directories (record batch headers and"
echo "#   transaction markers included); at most $max_segments segment(s) per partition: only active segments, which the log"
echo "#   cleaner never compacts, so every changelog record written is still there"
echo "# logical (*_logical): key + value bytes of every committed record read back with kcat (read_committed; a tombstone counts its key)"

targets="targets"
if has_phase amplification; then
  echo "#"
  echo "# amplification: $PARTITIONS-partition input, $duration s at each rate once serve was ready; serve --window 60s (default),"
  echo "#   stopped with SIGTERM once /v1/topics showed every record consumed (its last commit included)"
  echo "#   generator: speedlayer produce --generate --rate R --count R*$duration (short synthetic sentences ending in a unique #N)"
  echo "#   ids: gen_messages.py lines of 90 bytes (unique 7-digit id first) paced at R lines/s into speedlayer produce (JSON strings, 92 bytes)"
  echo "#   ratio_* = changelog / input; target: ratio <= 1.0 at >= 1,000 msg/s, <= 3.0 below; met: both ratios within it"
  echo "#   txns: speedlayer_transactions_total; cpu_s, peak_rss_mib: serve's (/proc) before SIGTERM; changelog_recs: records read back"
  fmt='%-9s %6s %8s %11s %15s %11s %10s %14s %18s %14s %15s %13s %6s %4s %5s %6s %12s %5s %s\n'
  # shellcheck disable=SC2059
  printf "$fmt" kind rate records input_disk changelog_disk output_disk ratio_disk input_logical \
    changelog_logical changelog_recs output_logical ratio_logical target met txns cpu_s peak_rss_mib load1 check
  while read -r kind rate recs ind cld outd rd inl cll clr outl rl tgt met tx cpu rss load check; do
    # shellcheck disable=SC2059
    printf "$fmt" "$kind" "$rate" "$recs" "$ind" "$cld" "$outd" "$rd" "$inl" "$cll" "$clr" "$outl" "$rl" \
      "$tgt" "$met" "$tx" "$cpu" "$rss" "$load" "$check"
    targets+=" ${kind}_${rate}_ratio_disk=$rd ${kind}_${rate}_ratio_logical=$rl ${kind}_${rate}_le_${tgt}=$met"
  done <"$amp_rows"
fi
if has_phase restore; then
  echo "#"
  echo "# restore: $restore_records JSON values {\"text\":LINE,\"ts\":MS} (gen_messages.py lines, 90 bytes; ${rs_gen:-}), event times spread evenly"
  echo "#   over the hour before the bench; serve --time-field ts --window 60s --retention 2h until /v1/topics showed all consumed and"
  echo "#   the group's committed offsets reached the end (bench_admin.py committed), then kill -9 and the same serve (same names) again"
  echo "#   fill_s: speedlayer produce --format json; catchup_s: serve start until all consumed; commit_wait_s: until committed"
  echo "#   changelog_disk/segs: on disk right after the kill; changelog_recs/logical: read back with kcat after the run"
  echo "#   rss_before_mib: VmHWM of the killed serve; ready_s: start of the new one until /readyz 200 (target <= ${RESTORE_READY_TARGET_S} s);"
  echo "#   consumed_at_ready: /v1/topics then; consumed, views_after: once caught up (must be $restore_records and views_before: exact);"
  echo "#   catchup2_s: start of the new one until consumed == records; rss_after_mib: its VmHWM then"
  fmt='%9s %7s %10s %14s %15s %14s %15s %18s %15s %8s %18s %9s %13s %12s %11s %14s %5s %s\n'
  # shellcheck disable=SC2059
  printf "$fmt" records fill_s catchup_s commit_wait_s changelog_disk changelog_segs changelog_recs \
    changelog_logical rss_before_mib ready_s consumed_at_ready consumed views_before views_after catchup2_s \
    rss_after_mib load1 check
  read -r -a f <<<"$rs_row"
  # shellcheck disable=SC2059
  printf "$fmt" "${f[@]}"
  echo "# restart's /readyz phases (seconds in each not-ready reason, in order): ${rs_phases:--}"
  [[ -z "$rs_note" ]] || echo "# note: $rs_note"
  ready_ok=$(awk -v r="${f[9]}" -v t="$RESTORE_READY_TARGET_S" 'BEGIN { if (r == "-") print "n/a"; else print (r + 0 <= t ? "yes" : "no") }')
  # Exact: everything consumed again and the same window counts as before the kill (a crash
  # at exit fails the checks, not this).
  exact=no
  [[ "${f[11]}" == "$restore_records" && "${f[13]}" != - && "${f[13]}" == "${f[12]}" ]] && exact=yes
  targets+=" restore_records=$restore_records restore_ready_s=${f[9]} restore_ready_le_${RESTORE_READY_TARGET_S}s=$ready_ok restore_counts_exact=$exact"
  targets+=" restore_changelog_disk=${f[4]}"
fi
targets+=" checks=$( ((failed)) && echo failed || echo ok)"
echo "$targets"
exit "$failed"
