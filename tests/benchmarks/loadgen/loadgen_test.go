package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestWorkersNeverShareARequestWhenThereAreEnough(t *testing.T) {
	for _, tc := range []struct{ c, n int }{{8, 128}, {25, 128}, {128, 128}, {1, 5}, {3, 4}} {
		owner := map[int]int{}
		for w := 0; w < tc.c; w++ {
			for k := 0; k < 3*tc.n; k++ {
				i := requestIndex(w, k, tc.c, tc.n)
				if i < 0 || i >= tc.n {
					t.Fatalf("c=%d n=%d: worker %d got index %d", tc.c, tc.n, w, i)
				}
				if o, seen := owner[i]; seen && o != w {
					t.Fatalf("c=%d n=%d: request %d sent by workers %d and %d", tc.c, tc.n, i, o, w)
				}
				owner[i] = w
			}
		}
		if len(owner) != tc.n {
			t.Fatalf("c=%d n=%d: %d of the requests sent", tc.c, tc.n, len(owner))
		}
	}
}

func TestMoreWorkersThanRequestsShareThem(t *testing.T) {
	if got := requestIndex(130, 0, 256, 128); got != 2 {
		t.Fatalf("worker 130 of 256 over 128 requests: got %d, want 2", got)
	}
}

func TestSummaryCountsFailuresAndStatusesApart(t *testing.T) {
	ms := time.Millisecond
	s := summarize([][]Outcome{
		{{Latency: 10 * ms, Status: 200}, {Latency: 20 * ms, Status: 429}},
		{{Latency: 30 * ms, Failure: "connection reset"}, {Latency: 40 * ms}},
	}, 2*time.Second)
	if s.Requests != 4 || s.OK != 2 || s.Throughput != 1 {
		t.Fatalf("requests %d ok %d throughput %v", s.Requests, s.OK, s.Throughput)
	}
	if s.Statuses["200"] != 1 || s.Statuses["429"] != 1 || len(s.Statuses) != 2 {
		t.Fatalf("statuses %v (a fabric success has no status)", s.Statuses)
	}
	if s.Failures["connection reset"] != 1 || s.P50 != 0.02 || s.Max != 0.04 {
		t.Fatalf("failures %v p50 %v max %v", s.Failures, s.P50, s.Max)
	}
}

func TestFailureKindNamesTheStepAndTheChaincodesCode(t *testing.T) {
	detailed, _ := status.New(codes.Aborted, "failed to endorse transaction").WithDetails(
		&gateway.ErrorDetail{Address: "peer0:7051", Message: "chaincode response 500, INSUFFICIENT_FUNDS: alice has 0"})
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&client.CommitError{Code: peer.TxValidationCode_MVCC_READ_CONFLICT}, "commit: MVCC_READ_CONFLICT"},
		{fmt.Errorf("wrapped: %w", &client.CommitError{Code: peer.TxValidationCode_ENDORSEMENT_POLICY_FAILURE}),
			"commit: ENDORSEMENT_POLICY_FAILURE"},
		{status.Error(codes.Unavailable, "connection refused"), "evaluate: Unavailable"},
		{detailed.Err(), "evaluate: Aborted (INSUFFICIENT_FUNDS)"},
		{status.Error(codes.Unknown, "chaincode response 500, NOT_FOUND: no service x"), "evaluate: Unknown (NOT_FOUND)"},
	} {
		if got := fabricFailureKind(tc.err); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.err, got, tc.want)
		}
	}
}
