# syntax=docker/dockerfile:1
#
# catqms container image: a static Go binary on distroless, run as nonroot.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t catqms .
#   docker run -p 8080:8080 catqms          # embedded store, nothing else needed
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

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/catqms /catqms
USER nonroot:nonroot
ENV CATQMS_ADDR=:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/catqms", "--healthcheck"]
ENTRYPOINT ["/catqms"]
