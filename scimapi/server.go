// Package scimapi serves the SCIM 2.0 HTTP API (RFC 7644): routing,
// bearer-token authentication that selects the tenant, content
// negotiation, body limits, conditional requests and bulk. The protocol
// rules live in package scim and their application in package directory;
// this package only translates HTTP.
package scimapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/schema"
)

// ContentType is the media type of every SCIM response.
const ContentType = "application/scim+json"

// Options configures a Server.
type Options struct {
	// BasePath is where the API is mounted, default "/scim/v2".
	BasePath string
	// BaseURL, when set, is the external URL of BasePath used in Location,
	// meta.location and $ref (for a server behind a proxy). When empty it
	// is derived from each request.
	BaseURL string
	// MaxBodyBytes limits request bodies other than bulk; default 4 MiB.
	MaxBodyBytes int64
	// BulkMaxOperations and BulkMaxPayload limit /Bulk; defaults 1000
	// operations and 4 MiB.
	BulkMaxOperations int
	BulkMaxPayload    int64
	// AuthFailureBurst failed authentications in a row from one client
	// address are answered normally; after that one attempt is allowed per
	// AuthFailureInterval and the rest get 429. Defaults 20 and 3s.
	AuthFailureBurst    int
	AuthFailureInterval time.Duration
	Logger              *slog.Logger
	Now                 func() time.Time // default time.Now
	// Observe, when set, is told of every request: its operation (create,
	// get, list, replace, patch, delete, search, bulk, discovery, other),
	// HTTP status and duration.
	Observe func(operation string, status int, took time.Duration)
}

// Server is the SCIM HTTP handler.
type Server struct {
	dir     *directory.Service
	opts    Options
	log     *slog.Logger
	limiter *authLimiter
}

// New returns a SCIM handler over dir.
func New(dir *directory.Service, o Options) *Server {
	if o.BasePath == "" {
		o.BasePath = "/scim/v2"
	}
	o.BasePath = "/" + strings.Trim(o.BasePath, "/")
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 4 << 20
	}
	if o.BulkMaxOperations <= 0 {
		o.BulkMaxOperations = 1000
	}
	if o.BulkMaxPayload <= 0 {
		o.BulkMaxPayload = 4 << 20
	}
	if o.AuthFailureBurst <= 0 {
		o.AuthFailureBurst = 20
	}
	if o.AuthFailureInterval <= 0 {
		o.AuthFailureInterval = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{dir: dir, opts: o, log: o.Logger, limiter: newAuthLimiter(o.AuthFailureBurst, o.AuthFailureInterval, o.Now)}
}

// BasePath is the path the API is served under.
func (s *Server) BasePath() string { return s.opts.BasePath }

func (s *Server) limits() scim.Limits {
	return scim.Limits{
		MaxResults:        s.dir.MaxResults(),
		BulkMaxOperations: s.opts.BulkMaxOperations,
		BulkMaxPayload:    s.opts.BulkMaxPayload,
	}
}

// request is one authenticated SCIM request.
type request struct {
	*http.Request
	caller directory.Caller
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	tenant, err := s.serve(sw, r)
	if err != nil {
		s.writeError(sw, r, err)
	}
	op := s.operation(r)
	if s.opts.Observe != nil {
		s.opts.Observe(op, sw.status, time.Since(start))
	}
	level := slog.LevelInfo
	if r.Method == http.MethodGet {
		level = slog.LevelDebug
	}
	s.log.Log(r.Context(), level, "scim request", "operation", op, "method", r.Method, "path", r.URL.Path,
		"status", sw.status, "tenant_id", tenant, "duration_ms", float64(time.Since(start).Microseconds())/1000)
}

// operation names a request for metrics and logs.
func (s *Server) operation(r *http.Request) string {
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, s.opts.BasePath), "/")
	seg := strings.Split(rest, "/")
	switch seg[0] {
	case "Users", "Groups":
		switch {
		case len(seg) == 2 && seg[1] == ".search":
			return "search"
		case len(seg) == 1 && r.Method == http.MethodGet:
			return "list"
		case len(seg) == 1 && r.Method == http.MethodPost:
			return "create"
		case len(seg) == 2:
			switch r.Method {
			case http.MethodGet:
				return "get"
			case http.MethodPut:
				return "replace"
			case http.MethodPatch:
				return "patch"
			case http.MethodDelete:
				return "delete"
			}
		}
	case ".search":
		return "search"
	case "Bulk":
		return "bulk"
	case "ServiceProviderConfig", "ResourceTypes", "Schemas":
		return "discovery"
	}
	return "other"
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) (int64, error) {
	rest, ok := strings.CutPrefix(r.URL.Path, s.opts.BasePath)
	if !ok || (rest != "" && rest[0] != '/') {
		return 0, scim.Errorf(scim.CodeNotFound, "not a SCIM endpoint: %s", r.URL.Path)
	}
	tenantID, tokenID, err := s.authenticate(r)
	if err != nil {
		if scim.AsError(err).Code == scim.CodeUnauthorized {
			// Only failures are throttled: whoever shares an address with
			// the identity provider (its cloud's egress, a proxy in front)
			// must not be able to lock its valid token out, and offboarding
			// with it.
			addr := clientAddr(r)
			if d := s.limiter.wait(addr); d > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(retryAfter(d)))
				return 0, scim.Errorf(scim.CodeTooManyRequests, "too many failed authentication attempts from this address; retry in %d s", retryAfter(d))
			}
			s.limiter.fail(addr)
			s.log.Warn("scim authentication failed", "remote_addr", addr.String(), "path", r.URL.Path)
		}
		return 0, err
	}
	req := &request{Request: r, caller: directory.Caller{TenantID: tenantID, Actor: tokenID, Base: s.baseURL(r)}}
	return tenantID, s.route(w, req, strings.Split(strings.Trim(rest, "/"), "/"))
}

func (s *Server) authenticate(r *http.Request) (int64, string, error) {
	h := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(h, " ")
	if h == "" || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return 0, "", scim.Errorf(scim.CodeUnauthorized, "authentication required: send Authorization: Bearer <SCIM token>")
	}
	tenant, id, err := s.dir.Authenticate(r.Context(), strings.TrimSpace(token))
	if errors.Is(err, directory.ErrBadToken) {
		return 0, "", invalidToken{scim.Errorf(scim.CodeUnauthorized, "the bearer token is invalid, expired or revoked")}
	}
	return tenant, id, err
}

// invalidToken marks a 401 for a token that was presented and refused, as
// opposed to a missing one (RFC 6750 section 3.1).
type invalidToken struct{ err *scim.Error }

func (e invalidToken) Error() string { return e.err.Error() }
func (e invalidToken) Unwrap() error { return e.err }

func (s *Server) baseURL(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return s.opts.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + s.opts.BasePath
}

// route dispatches on the path segments after the base path.
func (s *Server) route(w http.ResponseWriter, r *request, seg []string) error {
	if len(seg) == 1 && seg[0] == "" {
		seg = nil
	}
	method := r.Method
	allow := func(methods ...string) error {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		return scim.Errorf(scim.CodeMethodNotAllowed, "method %s is not allowed here; use %s", method, strings.Join(methods, " or "))
	}
	if len(seg) == 0 {
		return scim.Errorf(scim.CodeNotFound, "no resource at the SCIM base URL; try %s/ServiceProviderConfig", s.opts.BasePath)
	}
	switch seg[0] {
	case "ServiceProviderConfig":
		if len(seg) > 1 {
			break
		}
		if method != http.MethodGet {
			return allow(http.MethodGet)
		}
		if r.URL.Query().Has("filter") {
			return scim.Errorf(scim.CodeForbidden, "filtering is not supported on ServiceProviderConfig")
		}
		return writeJSON(w, http.StatusOK, scim.NewServiceProviderConfig(r.caller.Base, s.limits()))
	case "ResourceTypes", "Schemas":
		if len(seg) > 2 {
			break
		}
		if method != http.MethodGet {
			return allow(http.MethodGet)
		}
		return s.discovery(w, r, seg)
	case "Me":
		return scim.Errorf(scim.CodeNotImplemented, "/Me is not supported: SCIM tokens identify a tenant, not a user")
	case "Bulk":
		if len(seg) > 1 {
			break
		}
		if method != http.MethodPost {
			return allow(http.MethodPost)
		}
		return s.bulk(w, r)
	case ".search":
		if len(seg) > 1 {
			break
		}
		if method != http.MethodPost {
			return allow(http.MethodPost)
		}
		return s.searchRoot(w, r)
	case "Users", "Groups":
		rt := schema.UserType
		if seg[0] == "Groups" {
			rt = schema.GroupType
		}
		switch {
		case len(seg) == 1:
			switch method {
			case http.MethodGet:
				return s.list(w, r, rt)
			case http.MethodPost:
				return s.create(w, r, rt)
			}
			return allow(http.MethodGet, http.MethodPost)
		case len(seg) == 2 && seg[1] == ".search":
			if method != http.MethodPost {
				return allow(http.MethodPost)
			}
			return s.search(w, r, rt)
		case len(seg) == 2:
			switch method {
			case http.MethodGet:
				return s.get(w, r, rt, seg[1])
			case http.MethodPut:
				return s.replace(w, r, rt, seg[1])
			case http.MethodPatch:
				return s.patch(w, r, rt, seg[1])
			case http.MethodDelete:
				return s.delete(w, r, rt, seg[1])
			}
			return allow(http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete)
		}
	}
	return scim.Errorf(scim.CodeNotFound, "no SCIM endpoint at %s", r.URL.Path)
}

// readBody reads and decodes a JSON request body within limit.
func readBody(r *http.Request, limit int64) (map[string]any, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != ContentType && mt != "application/json") {
			return nil, scim.Errorf(scim.CodeUnsupportedMediaType, "Content-Type must be %s or application/json, got %q", ContentType, ct)
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, scim.Wrap(scim.CodeInvalidSyntax, err, "could not read the request body")
	}
	if int64(len(body)) > limit {
		return nil, scim.Errorf(scim.CodeTooLarge, "request body exceeds %d bytes", limit)
	}
	return scim.DecodeJSON(body)
}

// writeJSON writes a JSON response with the SCIM media type.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := scim.AsError(err)
	if errors.Is(err, context.Canceled) {
		return // the client went away; nobody reads the answer
	}
	if e.Code == scim.CodeInternal {
		s.log.Error("scim request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if e.Code == scim.CodeUnauthorized {
		challenge := `Bearer realm="scimgate"`
		var it invalidToken
		if errors.As(err, &it) {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	_ = writeJSON(w, e.Status(), e.Body())
}

// query parses the URL's list and projection parameters.
func query(r *http.Request, rt *schema.ResourceType) (*scim.Query, error) {
	raw, err := scim.ParseQueryParams(r.URL.Query())
	if err != nil {
		return nil, err
	}
	return raw.Compile(rt)
}

// writeResource writes one resource with its ETag.
func writeResource(w http.ResponseWriter, status int, res *directory.Resource, proj *scim.Projection) error {
	var buf bytes.Buffer
	scim.Render(&buf, res.Type, res.Doc, proj)
	buf.WriteByte('\n')
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("ETag", res.ETag())
	if status == http.StatusCreated {
		if meta, ok := res.Doc["meta"].(map[string]any); ok {
			h.Set("Location", meta["location"].(string))
		}
	}
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}
