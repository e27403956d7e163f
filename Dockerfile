# syntax=docker/dockerfile:1
#
# Sluice: one image, two entrypoints.
#   gateway (default):  node services/gateway/dist/main.js   port 4000 (PORT)
#   ingest:             node services/ingest/dist/main.js    port 4001 (SLUICE_INGEST_PORT)
#
#   docker build -t sluice:0.1.0 --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run --rm -e NATS_URL=nats://… -e DB_HOST=… sluice:0.1.0
#   docker run --rm -e NATS_URL=nats://… -e REDIS_HOST=… sluice:0.1.0 node services/ingest/dist/main.js
#
# Configuration is Mastodon's environment variables (docs/configuration.md).

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: all dependencies, compile every package with turbo -------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV TURBO_TELEMETRY_DISABLED=1 \
    NPM_CONFIG_AUDIT=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_UPDATE_NOTIFIER=false
# Manifests first, so the dependency layer is reused while only sources change.
COPY package.json package-lock.json turbo.json tsconfig.base.json ./
COPY shared/package.json shared/
COPY services/ingest/package.json services/ingest/
COPY services/gateway/package.json services/gateway/
COPY test/integration/package.json test/integration/
COPY bench/package.json bench/
RUN --mount=type=cache,target=/root/.npm npm ci
COPY shared/ shared/
COPY services/ services/
RUN npx turbo run build --filter=@sluice/ingest --filter=@sluice/gateway

# ---- prod-deps: production dependencies of the shipped workspaces only -----------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
ENV NPM_CONFIG_AUDIT=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_UPDATE_NOTIFIER=false
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY services/ingest/package.json services/ingest/
COPY services/gateway/package.json services/gateway/
COPY test/integration/package.json test/integration/
COPY bench/package.json bench/
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --workspace @sluice/shared --workspace @sluice/ingest --workspace @sluice/gateway

# ---- runtime --------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG NODE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="Horizontally scalable drop-in replacement for Mastodon's streaming API server (gateway and ingest)" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"

# tini as PID 1: forwards SIGTERM to node (which drains, see SLUICE_DRAIN_SECONDS) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    BIND=0.0.0.0 \
    PORT=4000 \
    SLUICE_INGEST_BIND=0.0.0.0 \
    SLUICE_INGEST_PORT=4001

WORKDIR /app
# Code and dependencies stay owned by root: the `node` user can read, not modify them.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/package.json ./
COPY --from=build /app/shared/package.json shared/
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/services/ingest/package.json services/ingest/
COPY --from=build /app/services/ingest/dist services/ingest/dist
COPY --from=build /app/services/gateway/package.json services/gateway/
COPY --from=build /app/services/gateway/dist services/gateway/dist

USER node
EXPOSE 4000 4001
STOPSIGNAL SIGTERM
# No HEALTHCHECK: the two entrypoints answer on different ports; Kubernetes probes (/livez,
# /readyz on 4000; /livez, /health on 4001) and the compose file define their own.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--max-semi-space-size=8", "--heap-growing-percent=50", "--expose-gc", "services/gateway/dist/main.js"]
