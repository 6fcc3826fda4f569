#!/usr/bin/env bash
# Installs every Debian package speedlayer needs to build, test and benchmark.
#   install-deps.sh [--test] [--system-rdkafka]
# --test adds what the tests need; --system-rdkafka adds Debian's librdkafka-dev for a build
# with -DSPEEDLAYER_SYSTEM_RDKAFKA=ON (by default speedlayer links librdkafka 2.12.1, built
# by scripts/librdkafka.sh from the -dev packages below).
# Idempotent: skips apt entirely when everything is already present.
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  curl                  # scripts/librdkafka.sh downloads librdkafka's source (pinned sha256)
  libssl-dev            # librdkafka's TLS and SASL SCRAM; our TLS check (tls_probe.cc)
  libzstd-dev liblz4-dev zlib1g-dev # librdkafka's zstd, lz4 and gzip compression
  libyaml-cpp-dev       # routes.yaml and config file parsing
  nlohmann-json3-dev    # JSON parsing/printing of messages and HTTP bodies
  libsimdjson-dev       # serve: fast validating parse of JSON message values
  libcli11-dev          # command line parsing
  libfmt-dev            # formatting
  libboost1.81-dev      # Boost.Beast/Asio/URL: serve's HTTP server (limits, deadlines, SSE)
  libcpp-httplib-dev    # HTTP client of demo and the tests
  libhyperscan-dev      # routing matcher: thousands of keywords in one pass
  libutf8proc-dev       # words in any script (src/text): Unicode categories, NFC, case folding
  libgtest-dev libgmock-dev # unit and integration tests
  libbenchmark-dev      # micro benchmarks in bench/
)
system_rdkafka_pkgs=(
  librdkafka-dev        # Debian's librdkafka 2.0.2, only for -DSPEEDLAYER_SYSTEM_RDKAFKA=ON
)
test_pkgs=(
  openjdk-17-jre-headless maven  # real Apache Kafka broker from Maven Central
  kcat                  # interop anchor (written by others; Debian's librdkafka 2.0.2)
  python3 python3-venv python3-pip # kafka-python interop + manifest validation
  openssl procps iproute2 netcat-openbsd curl time unzip
  clang-19 libclang-rt-19-dev # libFuzzer targets (run-fuzz.sh); clang 14-16 lack <expected>
  chromium chromium-driver # the live page's real-browser test (tests/browser, selenium)
  shellcheck            # every shell script is checked by the test command
  clang-format-19       # .clang-format checked on every C++ source by the test command
  clang-tidy-19         # .clang-tidy checks (bugprone, performance, modernize subset)
)

want=("${build_pkgs[@]}")
for arg in "$@"; do
  case "$arg" in
    --test) want+=("${test_pkgs[@]}") ;;
    --system-rdkafka) want+=("${system_rdkafka_pkgs[@]}") ;;
    *) echo "install-deps: unknown option '$arg' (want --test, --system-rdkafka)" >&2; exit 2 ;;
  esac
done

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
