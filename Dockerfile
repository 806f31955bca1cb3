# keepwatch agent image: docker build -t keepwatch . && docker run -p 9470:9470 keepwatch
# Mount your config at /etc/keepwatch/keepwatch.yaml; state lives in the /var/lib/keepwatch volume.

FROM node:20-slim AS build
# better-sqlite3 compiles from source when no prebuilt binary can be fetched.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY agent ./agent
COPY checks ./checks
COPY config ./config
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production \
    KEEPWATCH_CONFIG=/etc/keepwatch/keepwatch.yaml \
    KEEPWATCH_DATA_DIR=/var/lib/keepwatch \
    KEEPWATCH_PORT=9470
# Fixed ids (what --system picks here anyway): Kubernetes' runAsUser in deploy/kubernetes names them.
RUN groupadd --system --gid 999 keepwatch \
 && useradd --system --uid 999 --gid keepwatch --home-dir /var/lib/keepwatch --no-create-home --shell /usr/sbin/nologin keepwatch \
 && mkdir -p /etc/keepwatch /var/lib/keepwatch \
 && chown keepwatch:keepwatch /var/lib/keepwatch
WORKDIR /opt/keepwatch
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/config ./config
COPY config/default.yaml /etc/keepwatch/keepwatch.yaml
USER keepwatch
EXPOSE 9470
VOLUME ["/var/lib/keepwatch"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.KEEPWATCH_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "--max-semi-space-size=8", "/opt/keepwatch/dist/agent/cli.js"]
CMD ["run"]
