#!/usr/bin/env bash
# Runs bench/implicit_ack_repro.cc (librdkafka alone) on fresh 1-node Kafka brokers, round
# after round, with 5 and with 1 request in flight per connection, to check whether
# librdkafka's idempotent producer reports messages delivered that never reached a
# just-created partition (README, "Producer guarantees"; the reason produce and serve keep one
# request in flight).
#
#   bench/implicit_ack_repro.sh [--rounds N] [--messages N] [--topics N] [--binary PATH]
#
#   --rounds N    fresh brokers, one after the other (default 10)
#   --messages N  messages per producer run (default 200000)
#   --topics N    producer runs per broker and setting, each to a new (auto-created) topic
#                 (default 3)
#   --binary PATH the reproduction (default build/bench/implicit_ack_repro)
#
# Prints one line per producer run and a summary: runs and messages lost per setting.
# Exit status: 0 when no run lost a message, 1 when one did, 2 on a set-up error.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=10 messages=200000 topics=3 binary="$root/build/bench/implicit_ack_repro"
while (($#)); do
  case $1 in
    --rounds) rounds=${2:?}; shift 2 ;;
    --messages) messages=${2:?}; shift 2 ;;
    --topics) topics=${2:?}; shift 2 ;;
    --binary) binary=${2:?}; shift 2 ;;
    *) echo "implicit_ack_repro.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x "$binary" ]] || { echo "implicit_ack_repro.sh: no $binary (build the bench targets)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/implicit-ack.XXXXXX)
cleanup() { bash "$root/scripts/kafka-broker.sh" stop --dir "$tmp" --clean >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
declare -A runs=() lost_runs=() lost_messages=() unacked=()
status=0
for ((r = 1; r <= rounds; r++)); do
  brokers=$(bash "$root/scripts/kafka-broker.sh" start --dir "$tmp" --partitions 3 2>"$tmp/start.log" | tail -n1) ||
    { cat "$tmp/start.log" >&2; exit 2; }
  for ((t = 1; t <= topics; t++)); do
    # Alternate which setting meets the broker first.
    order="5 1"
    (((r + t) % 2 == 0)) || order="1 5"
    for inflight in $order; do
      line=$("$binary" "$brokers" "repro-r$r-t$t-if$inflight" "$messages" "$inflight") || rc=$?
      rc=${rc:-0}
      [[ $rc -le 1 ]] || { echo "round $r: the reproduction failed (exit $rc)" >&2; exit 2; }
      echo "round=$r topic=$t in_flight=$inflight $line"
      lost=$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<<"$line")
      without=$(sed -n 's/.* without_offset=\([0-9]*\).*/\1/p' <<<"$line")
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
  bash "$root/scripts/kafka-broker.sh" stop --dir "$tmp" --clean >/dev/null 2>&1
done
for inflight in 5 1; do
  echo "summary in_flight=$inflight runs=${runs[$inflight]:-0} runs_with_loss=${lost_runs[$inflight]:-0}" \
    "messages_lost=${lost_messages[$inflight]:-0} delivered_without_offset=${unacked[$inflight]:-0}"
done
exit "$status"
