package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/scim/schema"
)

const (
	coreURN  = schema.UserURN
	groupURN = schema.GroupURN
	ent      = schema.EnterpriseURN
)

// mustDecode decodes a JSON object the way request bodies are decoded, and
// fails the test when it cannot.
func mustDecode(t testing.TB, src string) map[string]any {
	t.Helper()
	m, err := DecodeJSON([]byte(src))
	if err != nil {
		t.Fatalf("DecodeJSON(%s) = %v", src, err)
	}
	return m
}

// decodeAny decodes any JSON value with numbers kept as json.Number.
func decodeAny(t testing.TB, src string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(src))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", src, err)
	}
	return v
}

// checkCode fails unless err is an *Error with the given code whose message
// contains every one of substrs.
func checkCode(t testing.TB, call string, err error, code Code, substrs ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s = %v (%T), want *Error with code %d", call, err, err, code)
	}
	if e.Code != code {
		t.Fatalf("%s = %q (scimType %q, status %d), want scimType %q, status %d",
			call, e.Msg, e.ScimType(), e.Status(), (&Error{Code: code}).ScimType(), (&Error{Code: code}).Status())
	}
	for _, s := range substrs {
		if !strings.Contains(e.Msg, s) {
			t.Errorf("%s = %q, want a message naming %q", call, e.Msg, s)
		}
	}
}

// checkClientErr fails unless err is nil or an *Error with a 4xx status.
func checkClientErr(t testing.TB, call string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s = %v (%T), want *Error", call, err, err)
	}
	if s := e.Status(); s < 400 || s > 499 {
		t.Fatalf("%s = %v with status %d, want a 4xx status", call, err, s)
	}
	if e.Msg == "" {
		t.Fatalf("%s = error without a message (code %d)", call, e.Code)
	}
}

// render renders doc with a projection built from attrs and excluded
// (comma-separated, "" for none).
func render(t testing.TB, rt *schema.ResourceType, doc map[string]any, attrs, excluded string) string {
	t.Helper()
	p, err := ParseProjection(rt, split(attrs), split(excluded))
	if err != nil {
		t.Fatalf("ParseProjection(%q, %q) = %v", attrs, excluded, err)
	}
	var buf bytes.Buffer
	Render(&buf, rt, doc, p)
	return buf.String()
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
