package contract

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes are the stable prefix of every message returned to clients; the gateway maps them, never the text.
const (
	CodeNotFound          = "NOT_FOUND"
	CodeAlreadyExists     = "ALREADY_EXISTS"
	CodeForbidden         = "FORBIDDEN"
	CodeUnauthenticated   = "UNAUTHENTICATED"
	CodeInsufficientFunds = "INSUFFICIENT_FUNDS"
	CodeInvalidArgument   = "INVALID_ARGUMENT"
	CodeInvalidState      = "INVALID_STATE"
	CodeInternal          = "INTERNAL"
)

var codes = []string{
	CodeNotFound, CodeAlreadyExists, CodeForbidden, CodeUnauthenticated,
	CodeInsufficientFunds, CodeInvalidArgument, CodeInvalidState, CodeInternal,
}

// Error is a client-facing failure: "CODE: message".
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func newError(code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error { return newError(CodeNotFound, format, args...) }
func alreadyExists(format string, args ...any) error {
	return newError(CodeAlreadyExists, format, args...)
}
func forbidden(format string, args ...any) error { return newError(CodeForbidden, format, args...) }
func invalidArg(format string, args ...any) error {
	return newError(CodeInvalidArgument, format, args...)
}
func invalidState(format string, args ...any) error {
	return newError(CodeInvalidState, format, args...)
}
func insufficient(format string, args ...any) error {
	return newError(CodeInsufficientFunds, format, args...)
}
func unauthenticated(format string, args ...any) error {
	return newError(CodeUnauthenticated, format, args...)
}

// internal wraps a failure of the peer or of our own encoding; it is never the client's fault.
func internal(what string, err error) error {
	return newError(CodeInternal, "%s: %v", what, err)
}

// ErrorCode returns the code of a client-facing error, or "" if err carries none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// hasCode reports whether a message already starts with one of our codes.
func hasCode(message string) bool {
	for _, c := range codes {
		if strings.HasPrefix(message, c+": ") {
			return true
		}
	}
	return false
}
