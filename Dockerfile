# aiot container image (deploy/README.md, "Container image").
#   docker build -t aiot .                                   # compiles in a Debian 12 build stage
#   docker run -p 8080:8080 -p 1883:1883 -v aiot:/var/lib/aiot aiot
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/aiot:TAG --push .
# Build arguments: BUILD_BASE / BASE, the Debian 12 images of the two stages (e.g. a local base made
# offline with debootstrap); AIOT_DEB, a prebuilt aiot .deb in the build context instead of compiling.
# Configuration: /etc/aiot/aiot.yaml (mount yours over it) and AIOT_<SECTION>_<KEY> variables.
ARG BUILD_BASE=docker.io/library/debian:12
ARG BASE=docker.io/library/debian:12-slim

FROM ${BUILD_BASE} AS build
ARG AIOT_DEB=""
ARG JOBS=""
COPY . /src
RUN AIOT_DEB="${AIOT_DEB}" JOBS="${JOBS}" sh /src/deploy/container/build-package.sh

FROM ${BASE} AS runtime
# A fixed non-root uid/gid, so that Kubernetes' runAsNonRoot can verify it and volumes can be
# prepared for it (fsGroup 10001). The package's postinst keeps an existing aiot user.
RUN groupadd --system --gid 10001 aiot \
 && useradd --system --uid 10001 --gid aiot --home-dir /var/lib/aiot --no-create-home \
      --shell /usr/sbin/nologin aiot
COPY --from=build /out/aiot.deb /tmp/aiot.deb
# The package pulls its shared libraries (dpkg-shlibdeps) and adduser; curl is for HEALTHCHECK.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      /tmp/aiot.deb curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* /tmp/aiot.deb \
 && install -d -m 0750 -o aiot -g aiot /var/lib/aiot
COPY deploy/container/aiot.yaml /etc/aiot/aiot.yaml
ENV AIOT_CONFIG=/etc/aiot/aiot.yaml
USER 10001:10001
WORKDIR /var/lib/aiot
VOLUME ["/var/lib/aiot"]
# MQTT, HTTP (dashboard, API, /score, /healthz, /readyz, /metrics).
EXPOSE 1883/tcp 8080/tcp
HEALTHCHECK --interval=30s --timeout=5s --start-period=5m --retries=3 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/bin/aiot"]
CMD ["up"]
