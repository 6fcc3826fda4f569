#!/usr/bin/env bash
# CTest demo_smoke: the README's first command must keep working. `speedlayer demo` on the
# in-process mock cluster (the kernel picks the HTTP port) must exit 0, print the live page's
# address first, answer GET / with the page while it runs, and end by saying the views counted
# every delivered message exactly once.
#   tests/demo_smoke.sh SPEEDLAYER_BIN
set -euo pipefail
bin=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bin" demo --duration 5s --rate 1000 --listen 127.0.0.1:0 >"$out" &
demo=$!
# The page, fetched while the demo runs (its first line names the address).
page_checked=0
for _ in $(seq 100); do
  url=$(head -n1 "$out" | sed -n 's|^speedlayer demo: live page at \(http://[^ ]*/\).*|\1|p')
  if [[ -n "$url" ]]; then
    curl -fsS --max-time 5 "$url" | grep -q '<script src="/app.js"' && page_checked=1
    break
  fi
  sleep 0.1
done
code=0
wait "$demo" || code=$?
cat "$out"
if ((code != 0)); then echo "demo_smoke: demo exited $code" >&2; exit 1; fi
if ((page_checked == 0)); then
  echo "demo_smoke: the first line did not name the live page, or GET / did not serve it" >&2
  exit 1
fi
grep -q "the views counted every delivered message exactly once" "$out" ||
  { echo "demo_smoke: no exactness line" >&2; exit 1; }
echo "demo_smoke: ok"
