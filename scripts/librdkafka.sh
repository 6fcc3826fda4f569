#!/usr/bin/env bash
# Builds (once) the librdkafka that speedlayer links by default and prints its install prefix
# as the last line of standard output:
#
#   prefix=$(bash scripts/librdkafka.sh | tail -n1)    # $prefix/lib/pkgconfig/rdkafka.pc
#
# Why not Debian 12's librdkafka-dev 2.0.2: its SASL SCRAM client-final-message carries the
# client nonce twice; Kafka 4.x brokers check the nonce strictly (RFC 5802, the fix for
# CVE-2024-56128) and answer "invalid credentials", so SCRAM logins to Strimzi 1.x (Kafka 4.x)
# fail. Fixed in librdkafka 2.6.1 (confluentinc/librdkafka#4895). CMake's
# -DSPEEDLAYER_SYSTEM_RDKAFKA=ON still links Debian's 2.0.2 instead of this build.
#
# Source: the crates.io crate rdkafka-sys, which bundles the librdkafka release unchanged
# under librdkafka/; pinned by version and sha256 (the checksum crates.io publishes in its
# index for that version). Build: librdkafka's own configure (mklove) and make, static
# library only (PIC objects, so it links into PIE executables), with OpenSSL (TLS, SASL
# SCRAM and OAUTHBEARER), zstd, lz4 and zlib from Debian's -dev packages
# (scripts/install-deps.sh), without Cyrus SASL (GSSAPI/Kerberos) and libcurl (OIDC). The
# executable then needs at run time only libssl3, libzstd1, liblz4-1 and zlib1g, not
# librdkafka1.
#
# Layout, under ${SPEEDLAYER_CACHE:-$HOME/.cache/speedlayer}:
#   rdkafka-sys-<crate version>.crate   the downloaded crate (checked against the sha256)
#   librdkafka-<version>/               the prefix: include/librdkafka/rdkafka.h,
#                                       rdkafka_mock.h, lib/librdkafka.a,
#                                       lib/pkgconfig/rdkafka.pc, .speedlayer-build (marker)
# A marker holding the hash of the source and of the build recipe makes later runs return
# at once; a changed pin or recipe rebuilds. The build runs in a temporary directory and the
# prefix appears only complete. Concurrent runs wait for each other (flock).
#
# Environment: SPEEDLAYER_CACHE (cache root), SPEEDLAYER_RDKAFKA_CRATE (a local copy of the
# crate to use instead of downloading it; still checked against the sha256). Progress goes
# to standard error.
set -euo pipefail

readonly RDKAFKA_VERSION=2.12.1
readonly CRATE_VERSION="4.10.0+$RDKAFKA_VERSION"
readonly CRATE_SHA256=e234cf318915c1059d4921ef7f75616b5219b10b46e9f3a511a15eb4b56a3f77
readonly CRATE_URL="https://static.crates.io/crates/rdkafka-sys/rdkafka-sys-$CRATE_VERSION.crate"
# librdkafka's configure: every wanted feature is --enable-d, so that a missing -dev package
# fails the build instead of quietly leaving the feature out.
readonly CONFIGURE_FLAGS=(
  --no-download --no-cache
  --enable-ssl --enable-zstd --enable-lz4-ext --enable-zlib
  --disable-gssapi --disable-curl --disable-syslog
  # Threads through pthread_create (librdkafka's tinycthread, as on systems without C11
  # threads), not glibc's thrd_create: ThreadSanitizer does not see threads thrd_create starts
  # and crashes in them, so the TSan run of the tests (run-tests.sh) needs this.
  --disable-c11threads
)
# Debian -dev packages the build needs (scripts/install-deps.sh installs them) and the
# pkg-config module each provides.
readonly -A DEV_PACKAGE=(
  [libssl]=libssl-dev [libcrypto]=libssl-dev [libzstd]=libzstd-dev [liblz4]=liblz4-dev
  [zlib]=zlib1g-dev
)

readonly CACHE_ROOT="${SPEEDLAYER_CACHE:-$HOME/.cache/speedlayer}"
readonly PREFIX="$CACHE_ROOT/librdkafka-$RDKAFKA_VERSION"
readonly CRATE="$CACHE_ROOT/rdkafka-sys-$CRATE_VERSION.crate"
readonly MARKER="$PREFIX/.speedlayer-build"

log() { echo "librdkafka: $*" >&2; }
die() { echo "librdkafka: error: $*" >&2; exit 1; }

# The marker's content: changes with the pinned source and with this build recipe.
want=$({ echo "$CRATE_SHA256"; echo "${CONFIGURE_FLAGS[*]}"; sed -n '/^build()/,/^}/p' "${BASH_SOURCE[0]}"; } \
  | sha256sum | cut -d' ' -f1)
up_to_date() {
  [[ -f "$MARKER" && "$(cat "$MARKER")" == "$want" && -f "$PREFIX/lib/librdkafka.a" \
     && -f "$PREFIX/lib/pkgconfig/rdkafka.pc" && -f "$PREFIX/include/librdkafka/rdkafka.h" ]]
}

# Fast path: nothing to do, no lock needed.
if up_to_date; then
  echo "$PREFIX"
  exit 0
fi

for tool in cc make pkg-config sha256sum tar gzip flock; do
  command -v "$tool" >/dev/null || die "'$tool' not found: run scripts/install-deps.sh"
done
missing=()
for mod in "${!DEV_PACKAGE[@]}"; do
  pkg-config --exists "$mod" || missing+=("${DEV_PACKAGE[$mod]}")
done
if ((${#missing[@]})); then
  die "missing build dependencies: $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')(run scripts/install-deps.sh)"
fi

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/librdkafka.lock"
flock -w 1800 9 || die "timed out waiting for another librdkafka.sh ($CACHE_ROOT/librdkafka.lock)"
if up_to_date; then   # another run may have finished it while we waited
  echo "$PREFIX"
  exit 0
fi

crate_ok() { [[ -f "$1" ]] && [[ "$(sha256sum <"$1" | cut -d' ' -f1)" == "$CRATE_SHA256" ]]; }

fetch() {
  crate_ok "$CRATE" && return 0
  if [[ -n "${SPEEDLAYER_RDKAFKA_CRATE:-}" ]]; then
    crate_ok "$SPEEDLAYER_RDKAFKA_CRATE" \
      || die "SPEEDLAYER_RDKAFKA_CRATE=$SPEEDLAYER_RDKAFKA_CRATE is missing or its sha256 is not $CRATE_SHA256"
    cp "$SPEEDLAYER_RDKAFKA_CRATE" "$CRATE.tmp.$$"
  else
    command -v curl >/dev/null || die "'curl' not found: run scripts/install-deps.sh"
    log "downloading $CRATE_URL"
    curl -fsSL --retry 3 --connect-timeout 20 --max-time 600 -o "$CRATE.tmp.$$" "$CRATE_URL" \
      || { rm -f "$CRATE.tmp.$$"; die "download of $CRATE_URL failed"; }
    if ! crate_ok "$CRATE.tmp.$$"; then
      local got
      got=$(sha256sum <"$CRATE.tmp.$$" | cut -d' ' -f1)
      rm -f "$CRATE.tmp.$$"
      die "sha256 mismatch for $CRATE_URL: got $got, pinned $CRATE_SHA256"
    fi
  fi
  mv -f "$CRATE.tmp.$$" "$CRATE"
}

work=""
cleanup() { [[ -n "$work" ]] && rm -rf "$work"; }
trap cleanup EXIT

build() {
  local src stage start
  start=$(date +%s)
  work=$(mktemp -d "$CACHE_ROOT/librdkafka-build.XXXXXX")
  tar -xzf "$CRATE" -C "$work" "rdkafka-sys-$CRATE_VERSION/librdkafka" \
    || die "cannot unpack librdkafka/ from $CRATE"
  src="$work/rdkafka-sys-$CRATE_VERSION/librdkafka"
  grep -q "^#define RD_KAFKA_VERSION *0x020c01ff" "$src/src/rdkafka.h" \
    || die "$CRATE does not hold librdkafka $RDKAFKA_VERSION"

  log "configuring librdkafka $RDKAFKA_VERSION (log: $work/build.log)"
  (cd "$src" && ./configure --prefix="$PREFIX" "${CONFIGURE_FLAGS[@]}") >"$work/build.log" 2>&1 \
    || { tail -n 30 "$work/build.log" >&2; die "configure failed (see above)"; }
  log "building librdkafka.a ($(nproc) jobs)"
  # Only the C library's static archive: no shared library, no C++ wrapper, no examples.
  make -C "$src/src" -j"$(nproc)" librdkafka.a >>"$work/build.log" 2>&1 \
    || { tail -n 30 "$work/build.log" >&2; die "make failed (see above)"; }

  stage="$work/prefix"
  install -d "$stage/include/librdkafka" "$stage/lib/pkgconfig"
  install -m 0644 "$src/src/rdkafka.h" "$src/src/rdkafka_mock.h" "$stage/include/librdkafka/"
  install -m 0644 "$src/src/librdkafka.a" "$stage/lib/"
  install -m 0644 "$src/LICENSES.txt" "$stage/"
  # A static-only install: the libraries librdkafka.a needs are plain Requires/Libs, so that
  # `pkg-config --libs rdkafka` (and CMake's pkg_check_modules) link them without --static.
  cat >"$stage/lib/pkgconfig/rdkafka.pc" <<EOF
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: librdkafka
Description: The Apache Kafka C/C++ library (static, built by speedlayer's scripts/librdkafka.sh)
Version: $RDKAFKA_VERSION
Requires: libssl libcrypto libzstd liblz4 zlib
Cflags: -I\${includedir}
Libs: -L\${libdir} -lrdkafka -lpthread -lrt -ldl -lm
EOF
  echo "$want" >"$stage/.speedlayer-build"

  rm -rf "$PREFIX"
  mv "$stage" "$PREFIX"
  log "ready: $PREFIX (built in $(($(date +%s) - start)) s)"
}

fetch
build
echo "$PREFIX"
