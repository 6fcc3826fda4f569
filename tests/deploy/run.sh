#!/usr/bin/env bash
# Runs the deployment tests (tests/deploy, pytest in the venv of scripts/python-env.sh).
#
#   tests/deploy/run.sh -m "not integration"   offline: render deploy/ with kustomize,
#                                               validate, policy checks (CTest: deploy_manifests)
#   tests/deploy/run.sh -m integration         the producer run as its Deployment runs it,
#                                               against the test broker (CTest: deploy_pod_run)
#
# Rendering uses kustomize $KUSTOMIZE_VERSION (pinned), installed once with `go install` from
# the Go module proxy into ${SPEEDLAYER_CACHE:-$HOME/.cache/speedlayer}/bin (a few minutes,
# the first time only). Without Go, a pinned Go toolchain is fetched from the Go module proxy
# first (fetch_go); if that fails, `kubectl kustomize` is used if kubectl is installed.
# SPEEDLAYER_KUSTOMIZE=/path/to/kustomize uses that binary instead.
# Strimzi schemas: $SPEEDLAYER_STRIMZI_SCHEMAS, default ../shared/schemas/strimzi-v1 beside the
# repository. Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly KUSTOMIZE_VERSION=v5.7.1
cache="${SPEEDLAYER_CACHE:-$HOME/.cache/speedlayer}"
log() { echo "deploy-tests: $*" >&2; }

# A Go toolchain from the Go module proxy, for machines without a recent Go (Debian 12's
# golang-go 1.19 is too old for kustomize v5): the same zip `GOTOOLCHAIN` downloads, pinned.
readonly GO_TOOLCHAIN=v0.0.1-go1.24.6.linux-amd64
readonly GO_TOOLCHAIN_SHA256=e7f0fd16d1b06c716162a0938744bb7ebf7edbc3248d42432271a1b5c1fde1ce

fetch_go() {
  local dir="$cache/go-toolchain/$GO_TOOLCHAIN"
  if [[ ! -x "$dir/bin/go" ]]; then
    [[ "$(uname -m)" == x86_64 ]] || { log "no Go and no pinned toolchain for $(uname -m)"; return 1; }
    log "no Go here: fetching golang.org/toolchain@$GO_TOOLCHAIN from proxy.golang.org (first run only)"
    local tmp
    tmp=$(mktemp -d)
    if ! curl -sSfL -o "$tmp/go.zip" \
      "https://proxy.golang.org/golang.org/toolchain/@v/$GO_TOOLCHAIN.zip" >&2; then
      rm -rf "$tmp"; log "error: downloading the Go toolchain failed"; return 1
    fi
    if [[ "$(sha256sum <"$tmp/go.zip" | cut -d' ' -f1)" != "$GO_TOOLCHAIN_SHA256" ]]; then
      rm -rf "$tmp"; log "error: the Go toolchain zip does not have sha256 $GO_TOOLCHAIN_SHA256"; return 1
    fi
    unzip -q "$tmp/go.zip" -d "$tmp" >&2
    mkdir -p "$(dirname "$dir")"
    rm -rf "$dir"
    mv "$tmp/golang.org/toolchain@$GO_TOOLCHAIN" "$dir"
    chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/* 2>/dev/null || true
    rm -rf "$tmp"
  fi
  echo "$dir/bin/go"
}

find_go() {
  if command -v go >/dev/null 2>&1; then command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then echo /usr/local/go/bin/go
  else fetch_go; fi
}

# Prints the command that renders a kustomization directory (followed by the directory).
kustomize_cmd() {
  if [[ -n "${SPEEDLAYER_KUSTOMIZE:-}" ]]; then
    echo "$SPEEDLAYER_KUSTOMIZE build"; return
  fi
  local bin="$cache/bin/kustomize-$KUSTOMIZE_VERSION"
  if [[ ! -x "$bin" ]]; then
    local go
    if go=$(find_go); then
      mkdir -p "$cache/bin"
      exec 8>"$cache/kustomize.lock"
      flock -w 900 8 || { log "timed out waiting for $cache/kustomize.lock"; exit 1; }
      if [[ ! -x "$bin" ]]; then
        log "installing kustomize $KUSTOMIZE_VERSION with $("$go" version) (first run only)"
        local gobin
        gobin=$(mktemp -d)
        # GOTOOLCHAIN=local: build with this Go or fail, never fetch another toolchain.
        if ! GOBIN="$gobin" GOTOOLCHAIN=local GOFLAGS=-modcacherw \
          "$go" install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2; then
          rm -rf "$gobin"
          log "error: 'go install sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION' failed (see above)"
          exit 1
        fi
        mv "$gobin/kustomize" "$bin.tmp" && mv "$bin.tmp" "$bin"
        rm -rf "$gobin"
      fi
      exec 8>&-
    elif command -v kubectl >/dev/null 2>&1; then
      log "no Go to install kustomize $KUSTOMIZE_VERSION: using $(command -v kubectl) kustomize"
      echo "kubectl kustomize"; return
    else
      log "error: cannot render deploy/: install Go (to build kustomize $KUSTOMIZE_VERSION from the"
      log "Go module proxy), or kubectl, or set SPEEDLAYER_KUSTOMIZE to a kustomize binary"
      exit 1
    fi
  fi
  echo "$bin build"
}

SPEEDLAYER_KUSTOMIZE_CMD=$(kustomize_cmd)
export SPEEDLAYER_KUSTOMIZE_CMD
py=$("$root/scripts/python-env.sh" | tail -n1)
cd "$root"
export PYTHONDONTWRITEBYTECODE=1
exec "$py" -m pytest -q -c tests/deploy/pytest.ini tests/deploy "$@"
