package main

import (
	"errors"
	"regexp"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"google.golang.org/grpc/status"
)

// The chaincode refuses with "CODE: message"; the peer wraps it as "chaincode response 500, CODE: message".
var chaincodeCode = regexp.MustCompile(`chaincode response \d+, ([A-Z][A-Z_]+):`)

// fabricFailureKind names a failed call by the step that failed and why, e.g. "endorse: Aborted
// (INSUFFICIENT_FUNDS)", "commit: MVCC_READ_CONFLICT", "evaluate: Unavailable".
func fabricFailureKind(err error) string {
	var endorse *client.EndorseError
	var submit *client.SubmitError
	var commitStatus *client.CommitStatusError
	var commit *client.CommitError
	switch {
	case errors.As(err, &commit):
		return "commit: " + commit.Code.String()
	case errors.As(err, &endorse):
		return "endorse: " + grpcKind(err)
	case errors.As(err, &submit):
		return "submit: " + grpcKind(err)
	case errors.As(err, &commitStatus):
		return "commit status: " + grpcKind(err)
	default:
		return "evaluate: " + grpcKind(err)
	}
}

// grpcKind is the gRPC code of err, with the chaincode's error code when a peer's detail carries one.
func grpcKind(err error) string {
	s := status.Convert(err)
	kind := s.Code().String()
	for _, detail := range s.Details() {
		if d, ok := detail.(*gateway.ErrorDetail); ok {
			if m := chaincodeCode.FindStringSubmatch(d.GetMessage()); m != nil {
				return kind + " (" + m[1] + ")"
			}
		}
	}
	if m := chaincodeCode.FindStringSubmatch(s.Message()); m != nil {
		return kind + " (" + m[1] + ")"
	}
	return kind
}
