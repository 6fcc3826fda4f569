# Shared prologue of the bench scripts (bench/*_bench.sh), sourced after their option parsing:
# logging and usage, the temp dir and its clean-up, the broker (own or given), the venv's
# python, topic admin through bench/bench_admin.py, and the small readings every bench takes.
#
#   bench_name=serve_bench                      # prefix of the progress lines
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # right after `set -euo pipefail`
#   ... parse options (log, die, usage are defined), then:
#   bench_require_tools "$speedlayer"           # the binary, kcat, /usr/bin/time
#   bench_setup serve-bench sbench              # $tmp, $prefix, the clean-up trap
#   bench_copy_speedlayer "$speedlayer"         # $sl (a copy), $sl_built, $sl_tree
#   bench_start_broker                          # $brokers, $own_broker, $broker_desc, ...
#   bench_python                                # $py
#   create_topics T1 T2                         # $PARTITIONS partitions, $replication (1)
#
# Exit statuses shared by the benches: die = bad usage (2); abort = the bench could not run
# (1: broker, python env, topics); a failed check is the caller's `failed=1` (exit 1).
# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables set here are read by the scripts that source it

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly root
readonly kafka_sh="$root/scripts/kafka-broker.sh"
readonly bench_admin="$root/bench/bench_admin.py"

log() { printf '%s: %s\n' "${bench_name:-bench}" "$*" >&2; }
die() { log "error: $*"; exit 2; }    # bad usage
abort() { log "error: $*"; exit 1; }  # the bench itself could not run
# The script's header comment, from its second line to `set -euo pipefail`.
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-2}"; }

bench_require_tools() { # SPEEDLAYER
  [[ -x "$1" ]] || die "no speedlayer binary at $1 (build: cmake -S . -B build -G Ninja && cmake --build build)"
  command -v kcat >/dev/null || die "kcat is missing (apt-get install kcat)"
  [[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install time)"
  command -v python3 >/dev/null || die "python3 is missing"
  # The environment must not steer the runs.
  unset KAFKA_BROKERS BOOTSTRAP_SERVERS KAFKA_TOPIC SPEEDLAYER_ROUTES SPEEDLAYER_CONFIG
}

bench_check_list() { # OPTION "ITEM..." "ALLOWED...": dies on an item not allowed
  local i
  for i in $2; do
    [[ " $3 " == *" $i "* ]] || die "$1: unknown '$i' (some of: $3)"
  done
}

bench_renice() { # N: the script and every child (broker, serve, producers, probes)
  [[ "$1" =~ ^-?[0-9]+$ ]] || die "--nice must be a number"
  renice -n "$1" -p $$ >/dev/null || die "renice -n $1 failed (N < 0 needs root)"
}

running() { # PID: alive and not a zombie
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n "$st" && "$st" != Z ]]
}

# ---------------------------------------------------------------------------------------
# Temp dir and clean-up

tmp="" own_broker=0 py="" created=0
bench_setup() { # TMP_NAME TOPIC_PREFIX: $tmp (/tmp/TMP_NAME.XXXXXX), $prefix, the traps
  tmp=$(mktemp -d "/tmp/$1.XXXXXX")
  prefix="$2-$(date +%s)-$$"  # topic, group and transactional id names
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Processes we started that may still run (their pid files in $tmp): by pid only.
  local f pid left=()
  for f in "$tmp"/*.pid; do
    [[ -f "$f" ]] || continue
    pid=$(cat "$f" 2>/dev/null) || continue
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    kill -TERM "$pid" 2>/dev/null && left+=("$pid")
  done
  for pid in ${left[@]+"${left[@]}"}; do
    for _ in $(seq 50); do running "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  # On a given cluster, every topic whose name starts with $prefix (serve's changelog and
  # output topics included); an own broker goes with its files.
  if ((created && !own_broker)) && [[ -n "$py" ]]; then
    "$py" "$bench_admin" delete-prefix "$brokers" "$prefix-" >>"$tmp/admin.log" 2>&1 ||
      log "could not delete the bench topics; their names start with $prefix"
  fi
  if ((own_broker)); then
    "$kafka_sh" stop --dir "$tmp/kafka" --clean >/dev/null 2>&1 ||
      log "stopping the broker failed; its files were in $tmp/kafka"
  fi
  if ((${keep:-0})); then log "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}

# ---------------------------------------------------------------------------------------
# What is measured: a copy of the binary, the broker, python

bench_copy_speedlayer() { # PATH: copy first, others may rebuild build/ while this runs
  sl="$tmp/speedlayer"
  cp "$1" "$sl"
  sl_built=$(date -u -r "$1" +%Y-%m-%dT%H:%M:%SZ)
  sl_tree=$(cd "$root" && git describe --always --dirty 2>/dev/null || echo unknown)
}

bench_start_broker() { # without --brokers: a 1-node Kafka 4.1.1 in $tmp/kafka
  broker_pid=0 broker_log_dir=""
  if [[ -z "$brokers" ]]; then
    log "starting a 1-node Kafka in $tmp/kafka"
    own_broker=1
    brokers=$("$kafka_sh" start --dir "$tmp/kafka" --brokers 1 2>"$tmp/broker-start.log" | tail -n1) ||
      { cat "$tmp/broker-start.log" >&2; abort "broker did not start"; }
    broker_desc="own 1-node Kafka 4.1.1 (scripts/kafka-broker.sh)"
    broker_pid=$(cat "$tmp/kafka/node-1/pid" 2>/dev/null || echo 0)
    broker_log_dir="$tmp/kafka/node-1/data"
  else
    broker_desc="given with --brokers"
  fi
  log "brokers: $brokers"
}

bench_python() { # $py: the venv's python (kafka-python), scripts/python-env.sh
  py=$("$root/scripts/python-env.sh" 2>"$tmp/python-env.log" | tail -n1) ||
    { cat "$tmp/python-env.log" >&2; abort "scripts/python-env.sh failed"; }
}

# ---------------------------------------------------------------------------------------
# Topics and readings

create_topics() { # TOPIC...: $PARTITIONS partitions, replication ${replication:-1}, leaders elected
  log "creating topics $*"
  created=1
  "$py" "$bench_admin" create "$brokers" "$PARTITIONS" "${replication:-1}" "$@" >>"$tmp/admin.log" 2>&1 ||
    { tail -n 20 "$tmp/admin.log" >&2; abort "could not create topics $*"; }
}

committed_offsets() { # GROUP TOPIC: sum of the group's committed offsets on TOPIC
  "$py" "$bench_admin" committed "$brokers" "$1" "$2" 2>>"$tmp/admin.log" || echo -
}

# Warm-up: on a fresh broker the first idempotent producer waits for producer-id allocation
# ("Coordinator load in progress"); let no measured run pay for that.
bench_warm_up() {
  create_topics "$prefix-warmup"
  seq 1000 | kcat -P -b "$brokers" -t "$prefix-warmup" -X enable.idempotence=true -X acks=all \
    2>>"$tmp/kcat.log" || abort "warm-up produce with kcat failed (see $tmp/kcat.log)"
}

# Sum of the end offsets (high watermarks) of a topic's $PARTITIONS partitions.
end_offsets() { # TOPIC
  local args=() p
  for ((p = 0; p < PARTITIONS; p++)); do args+=(-t "$1:$p:-1"); done
  kcat -Q -b "$brokers" "${args[@]}" 2>>"$tmp/kcat.log" | awk '/ offset /{ s += $NF } END { print s + 0 }'
}

# Records of a topic (all its partitions) a read_committed consumer sees.
committed_records() { # TOPIC (0 when kcat fails: what it read is what counts)
  { timeout 300 kcat -C -b "$brokers" -t "$1" -o beginning -e -q -X isolation.level=read_committed \
    -f '\n' 2>>"$tmp/kcat.log" || true; } | wc -l
}

load_now() { uptime | sed 's/^ *//'; }

proc_cpu() { # PID: user+sys CPU seconds of a live process (all threads), or - (no pid, gone)
  local stat
  if [[ "$1" != 0 ]] && stat=$(cat "/proc/$1/stat" 2>/dev/null); then
    awk -v t="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / t }' <<<"$stat"
  else
    echo -
  fi
}

ratio() { # A B [SUFFIX]: A / B with 2 decimals and SUFFIX, or n/a when either is missing
  awk -v a="$1" -v b="$2" -v x="${3:-}" 'BEGIN { if (a == "" || a == "-" || b == "" || b == "-" || b + 0 == 0) print "n/a"; else printf "%.2f%s", a / b, x }'
}
