// Command loadgen is the benchmarks' closed-loop load generator: c workers each send a request, wait for its answer
// and send the next, until n requests or the duration, and print one JSON summary (throughput, latency percentiles,
// answers by status, failures by kind). It is written in Go so that the client's own CPU cost stays small next to
// the server's on a machine whose cores it shares.
//
//	loadgen http -base http://127.0.0.1:7070 -c 64 -n 20000 -duration 20s < requests.jsonl
//	loadgen fabric -peer 127.0.0.1:7051 -tls-ca tlsca.pem -identities ids.json -c 64 -duration 30s < calls.jsonl
//
// http: each input line is one request, {"method": "GET", "path": "/v1/services/x", "token": "...", "body": {...}}.
// fabric: the official Fabric Gateway client (fabric-gateway v1.7.1) over one gRPC connection to one peer; each
// input line is one call, {"identity": 3, "function": "BuyCalls", "args": ["svc", "1", "1"], "submit": true}, made
// as that identity of the -identities file ([{"mspId", "certificate", "privateKey"}], PEM); a submitted call
// waits for its commit status. In both, worker w takes lines w, w+c, w+2c, … round and round (requestIndex).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen http|fabric [flags] < requests.jsonl")
		os.Exit(2)
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	concurrency := flags.Int("c", 8, "workers (requests in flight)")
	count := flags.Int("n", 10000, "requests at most")
	duration := flags.Duration("duration", 20*time.Second, "time at most")
	timeout := flags.Duration("timeout", 60*time.Second, "one request's time at most")
	var summary Summary
	switch os.Args[1] {
	case "http":
		base := flags.String("base", "", "the server's base URL")
		_ = flags.Parse(os.Args[2:])
		requests, err := readLines[Request](os.Stdin)
		if err != nil || *base == "" || *concurrency < 1 || *count < 1 {
			fail("loadgen http: need -base, -c ≥ 1, -n ≥ 1 and requests on stdin (%v)", err)
		}
		summary = runHTTP(*base, requests, *concurrency, *count, *duration, *timeout)
	case "fabric":
		var target FabricTarget
		flags.StringVar(&target.Peer, "peer", "", "the peer's gateway endpoint, host:port")
		flags.StringVar(&target.ServerName, "server-name", "", "the name in the peer's TLS certificate (default: the host)")
		flags.StringVar(&target.TLSCA, "tls-ca", "", "the peer organization's TLS CA certificate (PEM)")
		flags.StringVar(&target.Channel, "channel", "tdses", "the channel")
		flags.StringVar(&target.Chaincode, "chaincode", "tdses", "the chaincode")
		identities := flags.String("identities", "", "JSON file: [{mspId, certificate, privateKey}]")
		_ = flags.Parse(os.Args[2:])
		target.Timeout = *timeout
		calls, err := readLines[Call](os.Stdin)
		if err != nil || target.Peer == "" || target.TLSCA == "" || *identities == "" || *concurrency < 1 || *count < 1 {
			fail("loadgen fabric: need -peer, -tls-ca, -identities, -c ≥ 1, -n ≥ 1 and calls on stdin (%v)", err)
		}
		members, err := readMembers(*identities)
		if err != nil {
			fail("loadgen fabric: %v", err)
		}
		if summary, err = runFabric(target, members, calls, *concurrency, *count, *duration); err != nil {
			fail("loadgen fabric: %v", err)
		}
	default:
		fail("loadgen: unknown mode %q", os.Args[1])
	}
	_ = json.NewEncoder(os.Stdout).Encode(summary)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(2)
}

// readLines reads one JSON value per non-empty line.
func readLines[T any](input io.Reader) ([]T, error) {
	var lines []T
	scanner := bufio.NewScanner(input)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		if len(scanner.Bytes()) == 0 {
			continue
		}
		var line T
		if err := json.Unmarshal(scanner.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("line %d: %w", len(lines)+1, err)
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("no input lines")
	}
	return lines, scanner.Err()
}
