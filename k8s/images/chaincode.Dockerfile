# The T-DSES chaincode server (chaincode as a service). Build from the repository root:
#   docker build -f k8s/images/chaincode.Dockerfile -t tdses-chaincode:1.0 .
# Runs as the distroless "nonroot" user; the pod's securityContext may pick any other non-root id.

FROM golang:1.24.6-bookworm AS build
WORKDIR /src
COPY chaincode/go.mod chaincode/go.sum ./
RUN go mod download
COPY chaincode/ ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/tdses-chaincode .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tdses-chaincode /usr/local/bin/tdses-chaincode
USER nonroot:nonroot
EXPOSE 9999
ENTRYPOINT ["/usr/local/bin/tdses-chaincode"]
