#!/usr/bin/env bash
# Runs bench/implicit_ack_repro.cc (librdkafka alone) on fresh 1-node Kafka brokers, round
# after round, with 5 and with 1 request in flight per connection, to check whether
# librdkafka's idempotent producer reports messages delivered that never reached a
# just-created partition (README, "Producer guarantees"; the reason produce and serve keep one
# request in flight).
#
#   bench/implicit_ack_repro.sh [--rounds N] [--messages N] [--topics N] [--binary PATH]
#                               [--speedlayer PATH]
#
#   --rounds N    fresh brokers, one after the other (default 10)
#   --messages N  messages per producer run (default 200000)
#   --topics N    producer runs per broker and setting, each to a new (auto-created) topic
#                 (default 3)
#   --binary PATH the reproduction (default build/bench/implicit_ack_repro)
#   --speedlayer PATH  instead of the reproduction, run `PATH produce --generate --rate 200000`
#                 with -X max.in.flight.requests.per.connection=N (its generator paces the
#                 input as the SIGTERM integration test did) and compare its summary's
#                 "delivered" with the topic's end offsets
#
# Prints one line per producer run and a summary: runs and messages lost per setting.
# Exit status: 0 when no run lost a message, 1 when one did, 2 on a set-up error.
set -euo pipefail
bench_name=implicit_ack_repro
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
readonly PARTITIONS=3
rounds=10 messages=200000 topics=3 binary="$root/build/bench/implicit_ack_repro" speedlayer=""
while (($#)); do
  case $1 in
    --rounds) rounds=${2:?}; shift 2 ;;
    --messages) messages=${2:?}; shift 2 ;;
    --topics) topics=${2:?}; shift 2 ;;
    --binary) binary=${2:?}; shift 2 ;;
    --speedlayer) speedlayer=${2:?}; shift 2 ;;
    -h|--help) usage 0 ;;
    *) log "unknown argument: $1"; usage ;;
  esac
done
if [[ -n "$speedlayer" ]]; then
  bench_require_tools "$speedlayer"
else
  [[ -x "$binary" ]] || die "no $binary (build the bench targets)"
fi
bench_setup implicit-ack repro
own_broker=1  # one fresh broker per round in $tmp/kafka; the clean-up stops the last one

# speedlayer produce to a new topic, then what arrived: the same line format as the binary.
run_speedlayer() { # TOPIC MESSAGES MAX_IN_FLIGHT
  local delivered in_topic
  printf 'default_topic: %s\nroutes: []\n' "$1" >"$tmp/routes.yaml"
  "$speedlayer" produce --brokers "$brokers" --topic "$1" --routes "$tmp/routes.yaml" --generate \
    --rate 200000 --count "$2" --dead-letter "$tmp/dead-letter.jsonl" \
    -X "max.in.flight.requests.per.connection=$3" >/dev/null 2>"$tmp/produce.err" || true
  delivered=$(sed -n 's/.*delivered \([0-9,]*\),.*/\1/p' "$tmp/produce.err" | tail -n1 | tr -d ,)
  [[ -n "$delivered" ]] || { cat "$tmp/produce.err" >&2; return 2; }
  in_topic=$(end_offsets "$1")  # idempotent: nothing is written twice
  local lost=$((delivered > in_topic ? delivered - in_topic : 0))
  echo "delivered=$delivered in_topic=$in_topic lost=$lost (speedlayer produce)"
  ((lost == 0))
}
declare -A runs=() lost_runs=() lost_messages=() unacked=()
status=0
for ((r = 1; r <= rounds; r++)); do
  brokers=$("$kafka_sh" start --dir "$tmp/kafka" --partitions "$PARTITIONS" 2>"$tmp/start.log" | tail -n1) ||
    { cat "$tmp/start.log" >&2; die "round $r: the broker did not start"; }
  for ((t = 1; t <= topics; t++)); do
    # Alternate which setting meets the broker first.
    order="5 1"
    (((r + t) % 2 == 0)) || order="1 5"
    for inflight in $order; do
      if [[ -n "$speedlayer" ]]; then
        line=$(run_speedlayer "repro-r$r-t$t-if$inflight" "$messages" "$inflight") || rc=$?
      else
        line=$("$binary" "$brokers" "repro-r$r-t$t-if$inflight" "$messages" "$inflight") || rc=$?
      fi
      rc=${rc:-0}
      [[ $rc -le 1 ]] || die "round $r: the reproduction failed (exit $rc)"
      echo "round=$r topic=$t in_flight=$inflight $line"
      lost=$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<<"$line")
      without=$(sed -n 's/.* without_offset=\([0-9]*\).*/\1/p' <<<"$line")
      without=${without:-0}  # speedlayer's summary does not say
      runs[$inflight]=$((${runs[$inflight]:-0} + 1))
      unacked[$inflight]=$((${unacked[$inflight]:-0} + without))
      if ((lost > 0)); then
        lost_runs[$inflight]=$((${lost_runs[$inflight]:-0} + 1))
        lost_messages[$inflight]=$((${lost_messages[$inflight]:-0} + lost))
        status=1
      fi
      unset rc
    done
  done
  "$kafka_sh" stop --dir "$tmp/kafka" --clean >/dev/null 2>&1
done
for inflight in 5 1; do
  extra="delivered_without_offset=${unacked[$inflight]:-0}"
  [[ -z "$speedlayer" ]] || extra="(speedlayer produce)"
  echo "summary in_flight=$inflight runs=${runs[$inflight]:-0} runs_with_loss=${lost_runs[$inflight]:-0}" \
    "messages_lost=${lost_messages[$inflight]:-0} $extra"
done
exit "$status"
