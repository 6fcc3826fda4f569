#!/usr/bin/env bash
# Runs the real-browser test of serve's live page (CTest: browser_live_page): headless
# Chromium through the system chromedriver (apt: chromium chromium-driver), selenium in the
# venv made by scripts/python-env.sh. Needs SPEEDLAYER_KAFKA_STATE (a dir with
# single/bootstrap) and SPEEDLAYER_BIN, as CTest sets them; the screenshot goes to
# $SPEEDLAYER_BROWSER_OUT (default: pytest's tmp dir). Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
chromium=${SPEEDLAYER_CHROMIUM:-/usr/bin/chromium}
chromedriver=${SPEEDLAYER_CHROMEDRIVER:-/usr/bin/chromedriver}
for tool in "$chromium" "$chromedriver"; do
  if [[ ! -x "$tool" ]]; then
    echo "browser test: $tool not found: apt-get install chromium chromium-driver" >&2
    exit 1
  fi
done
py=$("$root/scripts/python-env.sh" | tail -n1)
cd "$root"
export PYTHONDONTWRITEBYTECODE=1
exec "$py" -m pytest -q tests/browser "$@"
