#!/usr/bin/env bash
# Installs every Debian package speedlayer needs to build, test and benchmark.
# Idempotent: skips apt entirely when everything is already present.
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  librdkafka-dev        # Kafka client (producer, consumer, transactions, mock cluster)
  libyaml-cpp-dev       # routes.yaml and config file parsing
  nlohmann-json3-dev    # JSON parsing/printing of messages and HTTP bodies
  libcli11-dev          # command line parsing
  libfmt-dev            # formatting
  libcpp-httplib-dev    # HTTP server for serve (/v1/views, /metrics)
  libhyperscan-dev      # routing matcher: thousands of keywords in one pass
  libgtest-dev libgmock-dev # unit and integration tests
  libbenchmark-dev      # micro benchmarks in bench/
  libssl-dev
)
test_pkgs=(
  openjdk-17-jre-headless maven  # real Apache Kafka broker from Maven Central
  kcat                  # interop anchor (same librdkafka, written by others)
  python3 python3-venv python3-pip # kafka-python interop + manifest validation
  openssl procps iproute2 netcat-openbsd curl time
)

want=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then want+=("${test_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
