#!/usr/bin/env bash
# Runs the kafka-python / kcat interop tests (CTest: interop_python).
# Needs SPEEDLAYER_KAFKA_STATE (a dir with single/bootstrap) and SPEEDLAYER_BIN, as CTest
# sets them; extra arguments go to pytest (e.g. -k routing -x).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
py=$("$root/scripts/python-env.sh" | tail -n1)
cd "$root"
export PYTHONDONTWRITEBYTECODE=1
exec "$py" -m pytest -q tests/interop "$@"
