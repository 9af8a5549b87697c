package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestErrorCodes(t *testing.T) {
	// RFC 7644 section 3.12: status and scimType of every code.
	tests := []struct {
		code     Code
		status   int
		scimType string
	}{
		{CodeInternal, http.StatusInternalServerError, ""},
		{CodeInvalidFilter, http.StatusBadRequest, "invalidFilter"},
		{CodeTooMany, http.StatusBadRequest, "tooMany"},
		{CodeUniqueness, http.StatusConflict, "uniqueness"},
		{CodeMutability, http.StatusBadRequest, "mutability"},
		{CodeInvalidSyntax, http.StatusBadRequest, "invalidSyntax"},
		{CodeInvalidPath, http.StatusBadRequest, "invalidPath"},
		{CodeNoTarget, http.StatusBadRequest, "noTarget"},
		{CodeInvalidValue, http.StatusBadRequest, "invalidValue"},
		{CodeInvalidVersion, http.StatusBadRequest, "invalidVers"},
		{CodeSensitive, http.StatusForbidden, "sensitive"},
		{CodeNotFound, http.StatusNotFound, ""},
		{CodeConflict, http.StatusConflict, ""},
		{CodePreconditionFailed, http.StatusPreconditionFailed, ""},
		{CodeTooLarge, http.StatusRequestEntityTooLarge, ""},
		{CodeUnauthorized, http.StatusUnauthorized, ""},
		{CodeForbidden, http.StatusForbidden, ""},
		{CodeMethodNotAllowed, http.StatusMethodNotAllowed, ""},
		{CodeUnsupportedMediaType, http.StatusUnsupportedMediaType, ""},
		{CodeTooManyRequests, http.StatusTooManyRequests, ""},
		{CodeNotImplemented, http.StatusNotImplemented, ""},
	}
	if len(tests) != len(codes) {
		t.Errorf("the test lists %d codes, the table has %d", len(tests), len(codes))
	}
	for _, tt := range tests {
		e := Errorf(tt.code, "x")
		if e.Status() != tt.status || e.ScimType() != tt.scimType {
			t.Errorf("Errorf(%d).Status(), ScimType() = %d, %q; want %d, %q", tt.code, e.Status(), e.ScimType(), tt.status, tt.scimType)
		}
	}
	for c := range codes {
		if codes[c].status == 0 {
			t.Errorf("code %d has no HTTP status", c)
		}
	}
}

func TestErrorf(t *testing.T) {
	e := Errorf(CodeInvalidValue, "attribute %s is %d", "x", 7)
	if e.Msg != "attribute x is 7" || e.Error() != "attribute x is 7" || e.Unwrap() != nil {
		t.Errorf("Errorf = %q, Error() %q, Unwrap() %v", e.Msg, e.Error(), e.Unwrap())
	}
}

func TestWrap(t *testing.T) {
	cause := fmt.Errorf("open db: %w", fs.ErrPermission)
	e := Wrap(CodeConflict, cause, "resource changed")
	if e.Msg != "resource changed" {
		t.Errorf("Wrap().Msg = %q, want the client-safe message alone", e.Msg)
	}
	if got, want := e.Error(), "resource changed: open db: permission denied"; got != want {
		t.Errorf("Wrap().Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, fs.ErrPermission) {
		t.Errorf("errors.Is(Wrap(cause), cause) = false")
	}
	if body := e.Body(); body.Detail != "resource changed" {
		t.Errorf("Wrap().Body().Detail = %q, want the cause hidden", body.Detail)
	}
}

func TestAsError(t *testing.T) {
	scimErr := Errorf(CodeNotFound, "User u1 not found")
	if got := AsError(scimErr); got != scimErr {
		t.Errorf("AsError(*Error) = %v, want the same error", got)
	}
	if got := AsError(fmt.Errorf("get user: %w", scimErr)); got != scimErr {
		t.Errorf("AsError(wrapped *Error) = %v, want the wrapped error", got)
	}
	secret := errors.New("sqlite: database /var/lib/secret.db is locked")
	got := AsError(fmt.Errorf("update: %w", secret))
	if got.Code != CodeInternal || got.Msg != "internal server error" || got.Status() != 500 {
		t.Errorf("AsError(plain error) = %+v, want an internal error", got)
	}
	if !errors.Is(got, secret) {
		t.Errorf("AsError(plain error) lost the cause for logs")
	}
	if b := got.Body(); b.Detail != "internal server error" || b.ScimType != "" {
		t.Errorf("AsError(plain error).Body() = %+v, want nothing of the cause", b)
	}
}

func TestErrorBody(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{Errorf(CodeInvalidFilter, `bad "filter"`),
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidFilter","detail":"bad \"filter\""}`},
		{Errorf(CodeNotFound, "User u1 not found"),
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"404","detail":"User u1 not found"}`},
		{Errorf(CodeUniqueness, "userName taken"),
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"userName taken"}`},
		{Errorf(CodeInternal, ""),
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"500"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.err.Body())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, string(b)); diff != "" {
			t.Errorf("json.Marshal(%v.Body()) mismatch (-want +got):\n%s", tt.err, diff)
		}
	}
}
