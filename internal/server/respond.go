package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/mltrack/mltrack/internal/tracking"
)

// httpStatus is THE mapping from MLflow error codes to HTTP statuses
// (mlflow/exceptions.py ERROR_CODE_TO_HTTP_STATUS). RESOURCE_ALREADY_EXISTS
// is 400 there, not 409; unmapped codes are 500.
func httpStatus(code tracking.ErrorCode) int {
	switch code {
	case tracking.ErrInvalidParameterValue, tracking.ErrBadRequest, tracking.ErrResourceAlreadyExists:
		return http.StatusBadRequest
	case "CUSTOMER_UNAUTHORIZED", "UNAUTHENTICATED":
		return http.StatusUnauthorized
	case "PERMISSION_DENIED":
		return http.StatusForbidden
	case tracking.ErrResourceDoesNotExist, tracking.ErrEndpointNotFound, "NOT_FOUND":
		return http.StatusNotFound
	case "ALREADY_EXISTS", "ABORTED", "RESOURCE_CONFLICT":
		return http.StatusConflict
	case tracking.ErrRequestLimitExceeded, "RESOURCE_EXHAUSTED":
		return http.StatusTooManyRequests
	case "CANCELLED":
		return 499
	case tracking.ErrNotImplemented:
		return http.StatusNotImplemented
	case tracking.ErrTemporarilyUnavail:
		return http.StatusServiceUnavailable
	case "DEADLINE_EXCEEDED":
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	ErrorCode  string `json:"error_code"`
	Message    string `json:"message"`
	ErrorClass string `json:"error_class,omitempty"`
	SQLState   string `json:"sqlstate,omitempty"`
}

// errorClass gives the error_class and sqlstate that MLflow 3.18 adds to every
// error body, derived from the code as its client-side classification does.
func errorClass(code tracking.ErrorCode) (class, sqlstate string) {
	const invalid, internal = "KAM00", "XXM00"
	switch code {
	case tracking.ErrInvalidParameterValue, tracking.ErrBadRequest:
		return "INVALID_PARAMETER_VALUE", invalid
	case tracking.ErrResourceAlreadyExists:
		return "RESOURCE_ALREADY_EXISTS", invalid
	case tracking.ErrResourceDoesNotExist, tracking.ErrEndpointNotFound, "NOT_FOUND":
		return "RESOURCE_NOT_FOUND", invalid
	case "PERMISSION_DENIED", "CUSTOMER_UNAUTHORIZED":
		return "PERMISSION_DENIED", invalid
	case "FEATURE_DISABLED":
		return "FEATURE_DISABLED", invalid
	case tracking.ErrInternal, tracking.ErrInvalidState, tracking.ErrTemporarilyUnavail:
		return "CLIENT_INTERNAL_ERROR", internal
	}
	return "", ""
}

// respond is the one place a handler's result becomes a response: handlers
// return (body, error) and never write error bodies themselves.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, body any, err error) {
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	if body == nil {
		body = empty{}
	}
	writeJSON(w, http.StatusOK, body)
}

// respondError writes MLflow's {"error_code","message"} body. Only a
// client-facing *tracking.Error shows its text; anything else is logged with
// the request id and shown as "internal error".
func (s *Server) respondError(w http.ResponseWriter, r *http.Request, err error) {
	var te *tracking.Error
	if !errors.As(err, &te) {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			// The client went away; nobody reads this response.
			s.logger.LogAttrs(r.Context(), slog.LevelInfo, "request canceled by client",
				slog.String("request_id", requestID(r.Context())))
			return
		}
		s.logger.LogAttrs(r.Context(), slog.LevelError, "internal error",
			slog.String("request_id", requestID(r.Context())),
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("error", err.Error()))
		te = &tracking.Error{Code: tracking.ErrInternal, Message: "internal error"}
	}
	class, sqlstate := errorClass(te.Code)
	writeJSON(w, httpStatus(te.Code), errorBody{ErrorCode: string(te.Code), Message: te.Message, ErrorClass: class, SQLState: sqlstate})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Python's json module does not escape <, > and &; neither do we.
	enc.SetEscapeHTML(false)
	err := enc.Encode(body)
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error_code":"INTERNAL_ERROR","message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
