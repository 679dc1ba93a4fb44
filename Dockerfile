# syntax=docker/dockerfile:1
#
# catqms container image: a static Go binary on distroless, run as nonroot.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t catqms .
#   docker run -p 8080:8080 catqms          # embedded store, nothing else needed
#   docker run -p 8080:8080 -v catqms-line:/data catqms   # …kept across containers
#
# The final image has no shell and no curl: the HEALTHCHECK runs the binary
# itself in --healthcheck mode, which GETs /healthz on the port of --addr.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src

# Modules first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .

ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH
# CGO_ENABLED=0: a static binary that runs on distroless/static (no libc).
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false \
        -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/catqms ./cmd/catqms
# The embedded store's folder, made here because the final image has no
# shell to make it; a volume mounted on it starts with its owner.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/catqms /catqms
COPY --from=build --chown=65532:65532 /out/data /data
USER nonroot:nonroot
ENV CATQMS_ADDR=:8080
# The embedded store saves the line here (ignored with --redis-url): a
# volume, so that a new container of the same service keeps the line.
ENV CATQMS_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/catqms", "--healthcheck"]
ENTRYPOINT ["/catqms"]
