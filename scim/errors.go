// Package scim is the SCIM 2.0 protocol core (RFC 7643, RFC 7644) without
// I/O: the error model, input normalisation against the schemas, rendering
// with attribute projection, PATCH, list and search parameters, and the
// discovery documents. Package directory applies it to stored resources and
// package scimapi serves it over HTTP.
package scim

import (
	"errors"
	"fmt"
	"net/http"
)

// Code classifies an Error. Each code maps to exactly one HTTP status and
// SCIM scimType in the table below; nothing else decides them.
type Code int

// Error codes.
const (
	CodeInternal Code = iota
	CodeInvalidFilter
	CodeTooMany
	CodeUniqueness
	CodeMutability
	CodeInvalidSyntax
	CodeInvalidPath
	CodeNoTarget
	CodeInvalidValue
	CodeInvalidVersion
	CodeSensitive
	CodeNotFound
	CodeConflict
	CodePreconditionFailed
	CodeTooLarge
	CodeUnauthorized
	CodeForbidden
	CodeMethodNotAllowed
	CodeUnsupportedMediaType
	CodeTooManyRequests
	CodeNotImplemented
)

var codes = [...]struct {
	status   int
	scimType string
}{
	CodeInternal:             {http.StatusInternalServerError, ""},
	CodeInvalidFilter:        {http.StatusBadRequest, "invalidFilter"},
	CodeTooMany:              {http.StatusBadRequest, "tooMany"},
	CodeUniqueness:           {http.StatusConflict, "uniqueness"},
	CodeMutability:           {http.StatusBadRequest, "mutability"},
	CodeInvalidSyntax:        {http.StatusBadRequest, "invalidSyntax"},
	CodeInvalidPath:          {http.StatusBadRequest, "invalidPath"},
	CodeNoTarget:             {http.StatusBadRequest, "noTarget"},
	CodeInvalidValue:         {http.StatusBadRequest, "invalidValue"},
	CodeInvalidVersion:       {http.StatusBadRequest, "invalidVers"},
	CodeSensitive:            {http.StatusForbidden, "sensitive"},
	CodeNotFound:             {http.StatusNotFound, ""},
	CodeConflict:             {http.StatusConflict, ""},
	CodePreconditionFailed:   {http.StatusPreconditionFailed, ""},
	CodeTooLarge:             {http.StatusRequestEntityTooLarge, ""},
	CodeUnauthorized:         {http.StatusUnauthorized, ""},
	CodeForbidden:            {http.StatusForbidden, ""},
	CodeMethodNotAllowed:     {http.StatusMethodNotAllowed, ""},
	CodeUnsupportedMediaType: {http.StatusUnsupportedMediaType, ""},
	CodeTooManyRequests:      {http.StatusTooManyRequests, ""},
	CodeNotImplemented:       {http.StatusNotImplemented, ""},
}

// Error is a protocol error with a message that is safe to show the client.
// Internal causes never reach Msg; wrap them with Wrap so that logs keep them.
type Error struct {
	Code  Code
	Msg   string
	cause error
}

// Errorf returns an Error with a formatted, client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error with a client-safe message that keeps cause for logs.
func Wrap(code Code, cause error, msg string) *Error {
	return &Error{Code: code, Msg: msg, cause: cause}
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Msg + ": " + e.cause.Error()
	}
	return e.Msg
}

// Unwrap returns the internal cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Status is the HTTP status for the error.
func (e *Error) Status() int {
	if int(e.Code) >= len(codes) || e.Code < 0 {
		return http.StatusInternalServerError
	}
	return codes[e.Code].status
}

// ScimType is the SCIM scimType for the error, or "".
func (e *Error) ScimType() string {
	if int(e.Code) >= len(codes) || e.Code < 0 {
		return ""
	}
	return codes[e.Code].scimType
}

// AsError returns err as an *Error. Anything that is not one becomes an
// internal error whose message reveals nothing.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Msg: "internal server error", cause: err}
}

// ErrorSchema is the URN of the SCIM error message.
const ErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"

// ErrorBody is the JSON error response (RFC 7644 section 3.12). Status is a
// string, as the RFC's examples and most clients expect.
type ErrorBody struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

// Body returns the JSON error response for e.
func (e *Error) Body() ErrorBody {
	return ErrorBody{
		Schemas:  []string{ErrorSchema},
		Status:   fmt.Sprint(e.Status()),
		ScimType: e.ScimType(),
		Detail:   e.Msg,
	}
}
