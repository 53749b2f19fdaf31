# Multi-stage image for linux/amd64, linux/arm64 and linux/arm/v7.
# classic-level ships prebuilt LevelDB binaries for all three inside its npm
# package, so no compiler is needed in either stage.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    MALLOC_MMAP_THRESHOLD_=131072 \
    OUTPOST_DATA_DIR=/data
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
COPY devices ./devices
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 1883
# Node flags and MALLOC_MMAP_THRESHOLD_ as in package.json's "start" (docs/architecture.md, "Memory").
ENTRYPOINT ["node", "--v8-pool-size=1", "dist/cli/main.js"]
CMD ["start", "--config", "config/outpost.yaml"]
