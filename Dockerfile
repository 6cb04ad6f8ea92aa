# syntax=docker/dockerfile:1
#
# The tenure binary in a small, shell-less image. One image serves every role:
# the command picks it (`migrate`, `api`, `worker`; see docker-compose.yml).
# Nothing secret is baked in: tokens and the database URL come from the
# environment at run time.

FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# Modules first, in their own layer, so that editing the source does not
# download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The binary links the embedded Temporal server for `tenure dev`, so a cold
# compile takes minutes; the cache mount keeps rebuilds incremental.
RUN --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w" -o /out/tenure ./cmd/tenure \
    && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tenure /tenure
# An empty directory owned by the unprivileged user: a named volume mounted here
# takes its ownership, so the sandbox apps can save their state.
COPY --from=build --chown=nonroot:nonroot /out/data /var/lib/tenure
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/tenure"]
CMD ["--help"]
