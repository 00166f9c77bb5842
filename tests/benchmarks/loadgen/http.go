package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
)

// Request is one line of the http mode's input.
type Request struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Token  string          `json:"token,omitempty"`
	Body   json.RawMessage `json:"body,omitempty"`
}

func runHTTP(base string, requests []Request, concurrency, count int, duration, timeout time.Duration) Summary {
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{
		MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, IdleConnTimeout: 90 * time.Second,
	}}
	return closedLoop(concurrency, count, len(requests), duration, func(_, i int) Outcome {
		return send(client, base, requests[i])
	})
}

func send(client *http.Client, base string, r Request) Outcome {
	var body io.Reader
	if len(r.Body) > 0 {
		body = bytes.NewReader(r.Body)
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	request, err := http.NewRequest(method, base+r.Path, body)
	if err != nil {
		return Outcome{Failure: "bad request: " + err.Error()}
	}
	if r.Token != "" {
		request.Header.Set("Authorization", "Bearer "+r.Token)
	}
	if body != nil {
		request.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	response, err := client.Do(request)
	if err != nil {
		return Outcome{Latency: time.Since(start), Failure: failureKind(err)}
	}
	_, err = io.Copy(io.Discard, response.Body)
	response.Body.Close()
	latency := time.Since(start)
	if err != nil {
		return Outcome{Latency: latency, Failure: failureKind(err)}
	}
	return Outcome{Latency: latency, Status: response.StatusCode}
}

// failureKind names a transport failure by kind, so a report can say which happened how often.
func failureKind(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "server closed the connection"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	default:
		return "other: " + err.Error()
	}
}
