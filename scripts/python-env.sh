#!/usr/bin/env bash
# Creates (once) the Python virtual environment the test suites use and prints the path
# of its python as the last line of standard output:
#
#   py=$(scripts/python-env.sh | tail -n1) && "$py" -m pytest -q tests/interop
#
# The venv lives in ${SPEEDLAYER_CACHE:-$HOME/.cache/speedlayer}/venv and is built with
# Debian's /usr/bin/python3 (python3-venv is installed with apt-get when missing and we
# are root). requirements-test.txt is pip-installed into it; a marker holding the hash of
# that file (and of the interpreter version) makes later runs return at once, and a
# changed requirements file re-installs. Concurrent runs wait for each other (flock).
#
# Environment: SPEEDLAYER_CACHE (cache root), SPEEDLAYER_PYTHON (interpreter to build the
# venv from; default /usr/bin/python3). Progress and pip output go to standard error.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
req="$root/requirements-test.txt"
cache="${SPEEDLAYER_CACHE:-$HOME/.cache/speedlayer}"
venv="$cache/venv"
base_py="${SPEEDLAYER_PYTHON:-/usr/bin/python3}"
marker="$venv/.speedlayer-requirements.sha256"

log() { echo "python-env: $*" >&2; }
die() { echo "python-env: error: $*" >&2; exit 1; }

[[ -r "$req" ]] || die "cannot read $req"

# Debian's python3 with a working venv module (ensurepip ships in python3-venv).
have_venv() { [[ -x "$base_py" ]] && "$base_py" -c 'import venv, ensurepip' >/dev/null 2>&1; }
if ! have_venv; then
  if [[ "$base_py" != /usr/bin/python3 ]]; then
    die "$base_py cannot create virtual environments (needs the venv and ensurepip modules)"
  fi
  if [[ $(id -u) -ne 0 ]]; then
    die "python3 with venv support is missing: run 'sudo apt-get install python3 python3-venv'"
  fi
  log "installing python3 python3-venv with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends python3 python3-venv >&2 \
    || die "apt-get install python3 python3-venv failed"
  have_venv || die "$base_py still cannot create virtual environments after installing python3-venv"
fi

want=$({ sha256sum <"$req"; "$base_py" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)
venv_ok() { [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; }
up_to_date() { venv_ok && [[ -f "$marker" && "$(cat "$marker")" == "$want" ]]; }

# Fast path: nothing to do, no lock needed.
if up_to_date; then
  echo "$venv/bin/python"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/venv.lock"
flock -w 900 9 || die "timed out waiting for another python-env.sh ($cache/venv.lock)"

if ! up_to_date; then   # another run may have finished it while we waited
  if ! venv_ok; then
    log "creating venv $venv with $base_py ($("$base_py" --version 2>&1))"
    rm -rf "$venv"
    "$base_py" -m venv "$venv" >&2 || die "'$base_py -m venv $venv' failed"
  fi
  rm -f "$marker"
  log "installing $req"
  export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
  if ! "$venv/bin/python" -m pip install -q --timeout 60 -r "$req" >&2; then
    die "pip install -r $req failed (see above); the venv at $venv is left without a marker and is re-tried next run"
  fi
  echo "$want" >"$marker"
  log "ready: $venv"
fi

echo "$venv/bin/python"
