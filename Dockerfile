# syntax=docker/dockerfile:1

# Build a static binary: no cgo (SQLite is the pure-Go glebarez/sqlite).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/portero ./cmd/portero

# Run as the unprivileged nonroot user (uid 65532) on a distroless base:
# no shell, no package manager, CA certificates and tzdata included.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/portero /portero
# The default SQLite path ./data/portero.db resolves under this directory,
# which nonroot owns; mount a volume at /home/nonroot/data to keep it.
WORKDIR /home/nonroot
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/portero"]
CMD ["serve"]
