# syntax=docker/dockerfile:1
# speedlayer container image: one executable, ENTRYPOINT ["speedlayer"]; the subcommand is
# the first argument (the Deployments in deploy/ pass `produce ...` or `serve ...`).
#
#   docker build -t <registry>/<user>/speedlayer:0.1.0 .
#   docker push <registry>/<user>/speedlayer:0.1.0
#   (or: buildah bud -t ... . && buildah push ...)
#
# Google buildpacks (`pack build`, as in the founding document) have no C++ builder for a
# long-running service; this multi-stage build replaces them.
#
# amd64 only: the routing matcher uses Hyperscan (Debian's libhyperscan5 exists for amd64
# only, and needs SSSE3).
#
# Base images are pinned: the build stage by tag and digest (the linux/amd64 image of
# debian:bookworm-20251229, as published by the Debian image maintainers); the runtime stage
# by its dated tag. To pin the runtime by digest as well:
#   docker buildx imagetools inspect debian:bookworm-20251229-slim
# and pass --build-arg RUNTIME_IMAGE=debian:bookworm-20251229-slim@sha256:<digest>.
ARG BUILD_IMAGE=debian:bookworm-20251229@sha256:4216e8fe27fdd803d2822d08ed9de39825a41a47e34c32b71a23ac074f91eaf4
ARG RUNTIME_IMAGE=debian:bookworm-20251229-slim

# --- build: the same script as the README (scripts/build.sh installs the Debian build
# packages, builds the pinned librdkafka 2.12.1 from its crates.io source, sha256-checked, as
# a static library (scripts/librdkafka.sh), configures with CMake and builds with Ninja); no
# tests, no benchmarks.
FROM --platform=linux/amd64 ${BUILD_IMAGE} AS build
WORKDIR /src
COPY . .
RUN bash scripts/build.sh /build -DSPEEDLAYER_TESTS=OFF -DSPEEDLAYER_BENCH=OFF \
 && strip --strip-debug -o /speedlayer /build/src/app/speedlayer \
 && /speedlayer --version

# --- runtime: slim Debian with only the shared libraries the executable links
# (ldd build/src/app/speedlayer: Hyperscan, yaml-cpp, cpp-httplib, simdjson; libfmt in case a build
# links it; OpenSSL, zstd, lz4 and zlib for the statically linked librdkafka; brotli comes
# with cpp-httplib) and CA certificates. Not Debian's librdkafka1: its 2.0.2 cannot log in
# with SCRAM to Kafka 4.x. Nothing else: no shell tools beyond the base image's, no compilers.
FROM --platform=linux/amd64 ${RUNTIME_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libhyperscan5 libyaml-cpp0.7 libcpp-httplib0.11 libfmt9 libsimdjson14 \
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
