# Rally's image: the broker, the game node and rallyctl, run as an
# unprivileged user. One stage builds with Debian's compilers and -dev
# packages; the image keeps only the programs and their runtime libraries.
# BASE is any Debian bookworm image; with no registry, build the default one
# with scripts/make-base-image.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends build-essential cmake pkg-config \
        libzmq3-dev libczmq-dev libmsgpack-dev libsqlite3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DRALLY_VIEWER=OFF -DRALLY_TESTS=OFF \
        -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"$(nproc)" \
        --target rally-broker rally-gamenode rallyctl

FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends libczmq4 libzmq5 libmsgpackc2 libsqlite3-0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --uid 10001 --home-dir /var/lib/rally \
        --shell /usr/sbin/nologin rally \
 && install -d -o rally -g rally -m 0750 /var/lib/rally \
 && install -d -o rally -g rally -m 0755 /var/lib/rally-keys \
        /var/lib/rally-keys/public
COPY --from=build /build/bin/rally-broker /build/bin/rally-gamenode \
                  /build/bin/rallyctl /usr/local/bin/
COPY config/compose.cfg config/compose-1broker.cfg /etc/rally/

# A node keeps its finished matches and its own certificate in
# /var/lib/rally (a volume); the members' public certificates are in
# /var/lib/rally-keys/public (compose.cfg's keys). Which program a container runs, and as which node, is up to docker-compose.yml.
ENV RALLY_CONFIG=/etc/rally/compose.cfg RALLY_DATA=/var/lib/rally \
    RALLY_KEY=/var/lib/rally/rally.cert
USER rally
WORKDIR /var/lib/rally
CMD ["rally-gamenode", "--help"]
