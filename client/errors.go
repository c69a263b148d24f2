package client

import (
	"errors"
	"fmt"
)

// Sentinel errors for errors.Is. An *APIError matches the sentinel that fits
// its error_code, so callers need not know MLflow's code names.
var (
	// ErrNotFound: the experiment, run, tag or metric does not exist
	// (RESOURCE_DOES_NOT_EXIST / NOT_FOUND).
	ErrNotFound = errors.New("mltrack: not found")
	// ErrAlreadyExists: the name is taken (RESOURCE_ALREADY_EXISTS). MLflow
	// answers this with HTTP 400, so it is deliberately distinct from ErrInvalid.
	ErrAlreadyExists = errors.New("mltrack: already exists")
	// ErrInvalid: the server rejected the request's content
	// (INVALID_PARAMETER_VALUE / BAD_REQUEST), or the client refused to send
	// it because it would be rejected.
	ErrInvalid = errors.New("mltrack: invalid request")
	// ErrUnsupportedArtifactURI: LogArtifact only speaks MLflow's artifact
	// proxy (mlflow-artifacts:/ or http(s) URIs served by the tracking server).
	ErrUnsupportedArtifactURI = errors.New("mltrack: unsupported artifact URI")
	// ErrRunEnded: the Run has been ended; its methods no longer log.
	ErrRunEnded = errors.New("mltrack: run already ended")
)

// APIError is a non-2xx answer from the server.
type APIError struct {
	StatusCode int    // HTTP status
	ErrorCode  string // MLflow error_code, e.g. RESOURCE_DOES_NOT_EXIST; derived from the status when the body had none
	Message    string
	Method     string
	Path       string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s: %s", e.Method, e.Path, e.StatusCode, e.ErrorCode, e.Message)
}

// Is maps error codes to the package's sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.ErrorCode == "RESOURCE_DOES_NOT_EXIST" || e.ErrorCode == "NOT_FOUND"
	case ErrAlreadyExists:
		return e.ErrorCode == "RESOURCE_ALREADY_EXISTS" || e.ErrorCode == "ALREADY_EXISTS"
	case ErrInvalid:
		return e.ErrorCode == "INVALID_PARAMETER_VALUE" || e.ErrorCode == "BAD_REQUEST"
	}
	return false
}

// codeForStatus mirrors how MLflow's Python client names an error whose body
// carried no JSON (rest_utils), so APIError.ErrorCode is never empty.
func codeForStatus(status int) string {
	switch status {
	case 400:
		return "BAD_REQUEST"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "ENDPOINT_NOT_FOUND"
	case 409:
		return "RESOURCE_CONFLICT"
	case 429:
		return "REQUEST_LIMIT_EXCEEDED"
	case 501:
		return "NOT_IMPLEMENTED"
	case 503:
		return "TEMPORARILY_UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL_ERROR"
}
