# dpmon in a container: a static binary on a distroless base, as a
# non-root user, the data directory a volume, health checked through the
# gRPC health service.
#
#   docker build -t dpmon .
#   docker run -v dpmon-data:/var/lib/dpmon -v ./tokens.yaml:/etc/dpmon/tokens.yaml:ro -p 7411:7411 dpmon
#
# Beyond loopback dpmon needs a token file (or --insecure): mount one at
# /etc/dpmon/tokens.yaml, or override the command.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# No cgo: the binary runs on an image without a C library.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/dpmon ./cmd/dpmon && \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/dpctl ./cmd/dpctl && \
    mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dpmon /out/dpctl /usr/local/bin/
# The nonroot user of the base image (65532) owns the data directory, so
# that a new volume mounted there is writable.
COPY --from=build --chown=65532:65532 /out/data /var/lib/dpmon
USER nonroot:nonroot
VOLUME /var/lib/dpmon
EXPOSE 7411 7412
HEALTHCHECK --interval=10s --timeout=5s --start-period=5m \
  CMD ["/usr/local/bin/dpctl", "--addr", "127.0.0.1:7411", "health"]
ENTRYPOINT ["/usr/local/bin/dpmon"]
CMD ["--listen", "0.0.0.0:7411", "--data-dir", "/var/lib/dpmon", "--tokens", "/etc/dpmon/tokens.yaml"]
