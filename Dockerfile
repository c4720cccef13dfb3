# syntax=docker/dockerfile:1

# Build a static binary: no cgo (SQLite is the pure-Go glebarez/sqlite).
# The Go release is the one go.mod's toolchain line names: bump both together
# (docs/security.md, "Supply chain"). Pin the images by digest where you build
# (e.g. FROM golang:1.26.10@sha256:...): these machines cannot reach a registry
# to read the digests, so the tags here are exact versions, not moving ones.
FROM golang:1.26.10 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/portero ./cmd/portero

# Run as the unprivileged nonroot user (uid 65532) on a distroless base:
# no shell, no package manager, CA certificates and tzdata included. No
# HEALTHCHECK (there is no shell to run one): orchestrators probe
# GET /health/alive (liveness) and GET /health/ready (readiness: fails while
# the database does not answer) on the main port.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/portero /portero
# The default SQLite path ./data/portero.db resolves under this directory,
# which nonroot owns; mount a volume at /home/nonroot/data to keep it.
WORKDIR /home/nonroot
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/portero"]
CMD ["serve"]
