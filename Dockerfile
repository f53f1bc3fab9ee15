# syntax=docker/dockerfile:1
# Multi-stage build: a static routewatch binary on a small non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
# go.mod replaces github.com/osrg/gobgp/v4 with the patched copy in
# third_party/gobgp: it must be there before the modules are resolved.
COPY third_party/ third_party/
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/routewatch ./cmd/routewatch

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/routewatch /usr/local/bin/routewatch
# BGP on a high port (no root / CAP_NET_BIND_SERVICE needed), API on 8080.
EXPOSE 1179 8080
USER nonroot:nonroot
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/routewatch", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/routewatch"]
CMD ["serve", "--config", "/etc/routewatch/routewatch.yaml"]
