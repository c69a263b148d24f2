package tracking

import (
	"errors"
	"fmt"
)

// ErrorCode is one of MLflow's error_code names. The HTTP layer maps each code
// to a status in exactly one place (internal/server).
type ErrorCode string

const (
	ErrInternal              ErrorCode = "INTERNAL_ERROR"
	ErrInvalidParameterValue ErrorCode = "INVALID_PARAMETER_VALUE"
	ErrBadRequest            ErrorCode = "BAD_REQUEST"
	ErrResourceAlreadyExists ErrorCode = "RESOURCE_ALREADY_EXISTS"
	ErrResourceDoesNotExist  ErrorCode = "RESOURCE_DOES_NOT_EXIST"
	ErrEndpointNotFound      ErrorCode = "ENDPOINT_NOT_FOUND"
	ErrInvalidState          ErrorCode = "INVALID_STATE"
	ErrNotImplemented        ErrorCode = "NOT_IMPLEMENTED"
	ErrTemporarilyUnavail    ErrorCode = "TEMPORARILY_UNAVAILABLE"
	ErrRequestLimitExceeded  ErrorCode = "REQUEST_LIMIT_EXCEEDED"
)

// Error is a failure the client is meant to see: its Message is sent verbatim
// in MLflow's {"error_code","message"} body. Anything that is not an *Error is
// an internal fault and is shown to clients only as "internal error".
type Error struct {
	Code    ErrorCode
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds a client-facing *Error.
func Errorf(code ErrorCode, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidParameter is shorthand for the most common client error.
func InvalidParameter(format string, args ...any) error {
	return Errorf(ErrInvalidParameterValue, format, args...)
}

// NotFound is shorthand for RESOURCE_DOES_NOT_EXIST.
func NotFound(format string, args ...any) error {
	return Errorf(ErrResourceDoesNotExist, format, args...)
}

// Code returns the MLflow error code of err, or INTERNAL_ERROR when err is not
// a client-facing *Error (or is nil-safe: nil gives "").
func Code(err error) ErrorCode {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ErrInternal
}

// IsNotFound reports whether err is RESOURCE_DOES_NOT_EXIST.
func IsNotFound(err error) bool { return Code(err) == ErrResourceDoesNotExist }
