// Command loadgen is the benchmarks' closed-loop load generator: c workers each send a request, wait for its answer
// and send the next, until n requests or the duration, and print one JSON summary (throughput, latency percentiles,
// answers by status, failures by kind). It is written in Go so that the client's own CPU cost stays small next to
// the server's on a machine whose cores it shares.
//
//	loadgen http -base http://127.0.0.1:7070 -c 64 -n 20000 -duration 20s < requests.jsonl
//
// Each input line is one request, {"method": "GET", "path": "/v1/services/x", "token": "...", "body": {...}};
// the workers take them in order, round and round.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen http [flags] < requests.jsonl")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "http":
		flags := flag.NewFlagSet("http", flag.ExitOnError)
		base := flags.String("base", "", "the server's base URL")
		concurrency := flags.Int("c", 8, "workers (requests in flight)")
		count := flags.Int("n", 10000, "requests at most")
		duration := flags.Duration("duration", 20*time.Second, "time at most")
		timeout := flags.Duration("timeout", 60*time.Second, "one request's time at most")
		_ = flags.Parse(os.Args[2:])
		requests, err := readRequests(os.Stdin)
		if err != nil || *base == "" || *concurrency < 1 || *count < 1 {
			fmt.Fprintf(os.Stderr, "loadgen http: need -base, -c ≥ 1, -n ≥ 1 and requests on stdin (%v)\n", err)
			os.Exit(2)
		}
		summary := runHTTP(*base, requests, *concurrency, *count, *duration, *timeout)
		_ = json.NewEncoder(os.Stdout).Encode(summary)
	default:
		fmt.Fprintf(os.Stderr, "loadgen: unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}

func readRequests(file *os.File) ([]Request, error) {
	var requests []Request
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		if len(scanner.Bytes()) == 0 {
			continue
		}
		var r Request
		if err := json.Unmarshal(scanner.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("line %d: %w", len(requests)+1, err)
		}
		requests = append(requests, r)
	}
	if len(requests) == 0 {
		return nil, fmt.Errorf("no requests")
	}
	return requests, scanner.Err()
}
