# syntax=docker/dockerfile:1
# speedlayer container image: one executable, ENTRYPOINT ["speedlayer"]; the subcommand is
# the first argument (the Deployments in deploy/ pass `produce ...` or `serve ...`).
#
#   docker build -t speedlayer:0.1.0 .                  # or: podman build / buildah build
#   docker run --rm speedlayer:0.1.0 --version
#
# Google buildpacks (`pack build`, as in the founding document) have no C++ builder for a
# long-running service; this multi-stage build replaces them.
#
# Architectures: linux/amd64 and linux/arm64, one image index (docs/deploy.md, "Build the
# image for amd64 and arm64"):
#   podman build --platform linux/amd64,linux/arm64 --manifest speedlayer:0.1.0 .
#   podman manifest push --all speedlayer:0.1.0 docker://<registry>/<user>/speedlayer:0.1.0
# Each platform is built natively for that platform (under QEMU user emulation when it is not
# the host's: slow, the librdkafka and C++ build take many times longer). The routing matcher
# links Hyperscan's API: on amd64 Debian's libhyperscan5 (Intel Hyperscan, x86-64 with SSSE3),
# on arm64 Debian's libvectorscan5 (Vectorscan, the portable fork with the same API and ABI;
# its -dev package provides libhyperscan-dev, so scripts/build.sh installs it unchanged).
# The arm64 image has not been built on this project's (amd64, Docker-less) machines.
#
# Base images are pinned by dated tag (debian:bookworm-20251229 and its -slim). A tag names an
# image index (one image per architecture); to pin by digest as well, pin the index digest,
# which covers both architectures (a per-platform digest would break the other one):
#   skopeo inspect --raw docker://debian:bookworm-20251229 | sha256sum
#   podman build --build-arg BUILD_IMAGE=debian:bookworm-20251229@sha256:<digest> \
#                --build-arg RUNTIME_IMAGE=debian:bookworm-20251229-slim@sha256:<digest> ...
ARG BUILD_IMAGE=debian:bookworm-20251229
ARG RUNTIME_IMAGE=debian:bookworm-20251229-slim

# --- build: the same script as the README (scripts/build.sh installs the Debian build
# packages, builds the pinned librdkafka 2.12.1 from its crates.io source, sha256-checked, as
# a static library (scripts/librdkafka.sh), configures with CMake and builds with Ninja); no
# tests, no benchmarks.
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY . .
RUN bash scripts/build.sh /build -DSPEEDLAYER_TESTS=OFF -DSPEEDLAYER_BENCH=OFF \
 && strip --strip-debug -o /speedlayer /build/src/app/speedlayer \
 && /speedlayer --version

# --- runtime: slim Debian with only the shared libraries the executable links
# (ldd build/src/app/speedlayer: Hyperscan (Vectorscan on arm64), yaml-cpp, cpp-httplib, simdjson; libfmt in case a build
# links it; OpenSSL, zstd, lz4 and zlib for the statically linked librdkafka; brotli comes
# with cpp-httplib) and CA certificates. Not Debian's librdkafka1: its 2.0.2 cannot log in
# with SCRAM to Kafka 4.x. Nothing else: no shell tools beyond the base image's, no compilers.
FROM ${RUNTIME_IMAGE}
# TARGETARCH: set by docker/podman/buildah for each platform built (amd64, arm64).
ARG TARGETARCH
RUN hs=libhyperscan5; if [ "$TARGETARCH" = arm64 ]; then hs=libvectorscan5; fi \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "$hs" libyaml-cpp0.7 libcpp-httplib0.11 libfmt9 libsimdjson14 \
      libssl3 libzstd1 liblz4-1 zlib1g ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 speedlayer \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin speedlayer
COPY --from=build /speedlayer /usr/local/bin/speedlayer
COPY config/routes.yaml /etc/speedlayer/routes.yaml
# Fail the build, not the pod, when a shared library is missing.
RUN if ldd /usr/local/bin/speedlayer | grep 'not found'; then exit 1; fi \
 && speedlayer --version
# Numeric, so that Kubernetes can check runAsNonRoot against the image.
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["speedlayer"]
CMD ["--help"]
