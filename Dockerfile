# nodowntime - sidecar health-and-drain agent for Kubernetes.
#
#   make image        podman build -t nodowntime:$(VERSION) .
#   make image-test   build, then run the image and check it (tests/image/)
#
# Build stage: compile with the same Makefile as a developer, then run the
# unit tests; a failing test fails the image build.
# Runtime stage: bookworm-slim + the three runtime libraries and CA
# certificates, the agent and the static hook, nothing else. It runs as a
# non-root numeric user and writes only below /run/nodowntime (the pod's shared
# emptyDir), so it works with readOnlyRootFilesystem.

ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${DEBIAN_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
	gcc make pkg-config libc6-dev binutils \
	libcurl4-openssl-dev libyaml-dev libmicrohttpd-dev libjansson-dev libcmocka-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# -j: make all is fast; the unit tests run in one process each
RUN make -j"$(nproc)" WERROR=1 all \
 && make -j"$(nproc)" WERROR=1 unit \
 && strip build/nodowntime build/nodowntime-hook \
 && ./build/nodowntime --version

FROM ${DEBIAN_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
	libcurl4 libyaml-0-2 libmicrohttpd12 libjansson4 ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
	/var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log \
 && install -d -m 0755 -o 65532 -g 65532 /run/nodowntime \
 && install -d -m 0755 /etc/nodowntime
# the agent copies the hook from its own directory into hook_install_path
# (/run/nodowntime/nodowntime-hook) at start; keep them side by side
COPY --from=build /src/build/nodowntime /src/build/nodowntime-hook /usr/local/bin/
# The agent needs no privilege: it listens on :3000 and reads /proc/net/tcp.
# Numeric ids so runAsNonRoot can verify them without an /etc/passwd entry.
USER 65532:65532
VOLUME ["/run/nodowntime"]
EXPOSE 3000
STOPSIGNAL SIGTERM
ENTRYPOINT ["nodowntime"]
CMD ["run"]

# last, so that a new revision or date does not invalidate the layers above
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="nodowntime" \
      org.opencontainers.image.description="Sidecar health-and-drain agent for Kubernetes: aggregated /live /ready /startup probes and a preStop drain for zero-downtime rollouts" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.documentation="docs/DEPLOYING.md in the source" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
