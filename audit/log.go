package audit

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/store"
)

// Filter selects entries of the audit log.
type Filter struct {
	Since time.Time // inclusive; zero: from the start
	Until time.Time // exclusive; zero: to the end
	// User keeps the entries about one user, by userName (any case):
	// their decisions, the changes to their user, their memberships,
	// access tokens and sessions. A user is recognised by every id that
	// ever had that userName, whatever the time range, and by the name in
	// decisions.
	User string
	// Route keeps the decisions on the route and the policy versions
	// that define it. Directory changes name no route: they are left out
	// (`scimgate access history` says what they changed on a route).
	Route string
	Limit int // at most this many entries; 0: no limit
}

// Entry is one record of the audit log, from one of the three streams.
type Entry struct {
	Stream   string         `json:"stream"`
	Seq      int64          `json:"seq"`
	At       time.Time      `json:"at"`
	Hash     string         `json:"hash"`
	Change   *ChangeEntry   `json:"change,omitempty"`
	Policy   *PolicyEntry   `json:"policy,omitempty"`
	Decision *DecisionEntry `json:"decision,omitempty"`
}

// ChangeEntry is a directory change.
type ChangeEntry struct {
	TenantID     int64              `json:"tenant_id"`
	Actor        string             `json:"actor"`
	ResourceType string             `json:"resource_type"`
	ResourceID   string             `json:"resource_id"`
	Name         string             `json:"name,omitempty"` // userName, displayName or tenant name; after the change if any
	Op           string             `json:"op"`
	Before       json.RawMessage    `json:"before,omitempty"`
	After        json.RawMessage    `json:"after,omitempty"`
	Edges        []store.EdgeChange `json:"edges,omitempty"`
	Detail       json.RawMessage    `json:"detail,omitempty"`
}

// PolicyEntry is a policy version.
type PolicyEntry struct {
	Source string          `json:"source"`
	Digest string          `json:"digest"`
	Routes []string        `json:"routes"`
	Doc    json.RawMessage `json:"doc,omitempty"`
}

// DecisionEntry is an access decision.
type DecisionEntry struct {
	Allow    bool   `json:"allow"`
	Reason   string `json:"reason"`
	TenantID int64  `json:"tenant_id,omitempty"`
	UserID   string `json:"user_id,omitempty"`
	UserName string `json:"user_name,omitempty"`
	Route    string `json:"route,omitempty"`
	Method   string `json:"method"`
	Host     string `json:"host"`
	Path     string `json:"path"`
	Adapter  string `json:"adapter"`
	Remote   string `json:"remote,omitempty"`
	CredKind string `json:"credential,omitempty"`
	CredID   string `json:"credential_id,omitempty"`
}

// errLimit stops a walk at Filter.Limit.
var errLimit = errors.New("limit reached")

// logPage is how many records the log reads of a stream at a time.
const logPage = 1000

// Log calls fn with the entries of the three streams that f selects,
// merged in time order (ties: policies, then changes, then decisions, each
// by sequence number), stopping at fn's first error, which it returns.
// It reads one consistent snapshot of the store.
func Log(ctx context.Context, v Viewer, f Filter, fn func(Entry) error) error {
	err := v.View(ctx, func(tx store.ReadTx) error {
		m, err := newMatcher(ctx, tx, f)
		if err != nil {
			return err
		}
		srcs := []*source{policySource(ctx, tx, f, m), changeSource(ctx, tx, f, m), decisionSource(ctx, tx, f, m)}
		n := 0
		for {
			var best *source
			for _, s := range srcs {
				e, err := s.peek()
				if err != nil {
					return err
				}
				if e != nil && (best == nil || e.At.Before(best.buf[0].At)) {
					best = s
				}
			}
			if best == nil {
				return nil
			}
			e := best.buf[0]
			best.buf = best.buf[1:]
			if err := fn(e); err != nil {
				return err
			}
			if n++; f.Limit > 0 && n >= f.Limit {
				return errLimit
			}
		}
	})
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

// source is one stream read in time order, a page at a time.
type source struct {
	buf   []Entry
	fetch func() ([]Entry, bool, error) // the next page (maybe empty after filtering), and whether more may follow
	done  bool
}

func (s *source) peek() (*Entry, error) {
	for len(s.buf) == 0 && !s.done {
		es, more, err := s.fetch()
		if err != nil {
			return nil, err
		}
		s.buf, s.done = es, !more
	}
	if len(s.buf) == 0 {
		return nil, nil
	}
	return &s.buf[0], nil
}

func policySource(ctx context.Context, tx store.ReadTx, f Filter, m *matcher) *source {
	var after int64
	return &source{fetch: func() ([]Entry, bool, error) {
		vs, err := tx.PolicyVersions(ctx, after, logPage)
		if err != nil {
			return nil, false, err
		}
		var out []Entry
		for _, v := range vs {
			after = v.Seq
			if !inRange(v.At, f) {
				continue
			}
			e := policyEntry(v)
			if m.policy(e.Policy) {
				out = append(out, e)
			}
		}
		// Policy versions are few, and loaded in time order save for
		// clock steps: sort the page (a stable insertion sort).
		sortByTime(out)
		return out, len(vs) == logPage, nil
	}}
}

func changeSource(ctx context.Context, tx store.ReadTx, f Filter, m *matcher) *source {
	cur := store.CursorAt(f.Since)
	return &source{done: f.Route != "", fetch: func() ([]Entry, bool, error) {
		cs, err := tx.ChangesByTime(ctx, cur, f.Until, logPage)
		if err != nil {
			return nil, false, err
		}
		var out []Entry
		for _, c := range cs {
			cur = store.TimeCursor{At: c.At, Seq: c.Seq}
			e := changeEntry(c)
			if m.change(c, e.Change) {
				out = append(out, e)
			}
		}
		return out, len(cs) == logPage, nil
	}}
}

func decisionSource(ctx context.Context, tx store.ReadTx, f Filter, m *matcher) *source {
	cur := store.CursorAt(f.Since)
	return &source{fetch: func() ([]Entry, bool, error) {
		ds, err := tx.DecisionsByTime(ctx, cur, f.Until, logPage)
		if err != nil {
			return nil, false, err
		}
		var out []Entry
		for _, d := range ds {
			cur = store.TimeCursor{At: d.At, Seq: d.Seq}
			if m.decision(d) {
				out = append(out, decisionEntry(d))
			}
		}
		return out, len(ds) == logPage, nil
	}}
}

func inRange(t time.Time, f Filter) bool {
	return !t.Before(f.Since) && (f.Until.IsZero() || t.Before(f.Until))
}

func sortByTime(es []Entry) {
	slices.SortStableFunc(es, func(a, b Entry) int { return a.At.Compare(b.At) })
}

func policyEntry(v store.PolicyVersion) Entry {
	p := &PolicyEntry{Source: v.Source, Digest: v.Digest, Routes: []string{}, Doc: raw(v.Doc)}
	var routes []struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(v.Doc, &routes)
	for _, r := range routes {
		p.Routes = append(p.Routes, r.Name)
	}
	return Entry{Stream: store.StreamPolicies, Seq: v.Seq, At: v.At, Hash: hex.EncodeToString(v.Hash), Policy: p}
}

func changeEntry(c store.Change) Entry {
	ce := &ChangeEntry{TenantID: c.TenantID, Actor: c.Actor, ResourceType: c.ResourceType, ResourceID: c.ResourceID,
		Op: c.Op, Before: raw(c.Before), After: raw(c.After), Edges: c.Edges, Detail: raw(c.Detail)}
	ce.Name = changeName(c)
	return Entry{Stream: store.StreamChanges, Seq: c.Seq, At: c.At, Hash: hex.EncodeToString(c.Hash), Change: ce}
}

func decisionEntry(d store.Decision) Entry {
	return Entry{Stream: store.StreamDecisions, Seq: d.Seq, At: d.At, Hash: hex.EncodeToString(d.Hash), Decision: &DecisionEntry{
		Allow: d.Allow, Reason: d.Reason, TenantID: d.TenantID, UserID: d.UserID, UserName: d.UserName, Route: d.Route,
		Method: d.Method, Host: d.Host, Path: d.Path, Adapter: d.Adapter, Remote: d.Remote, CredKind: d.CredKind, CredID: d.CredID,
	}}
}

// raw returns stored JSON for output; anything that is not JSON (it
// should not happen) is quoted, so the log stays valid JSON.
func raw(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return b
	}
	q, _ := json.Marshal(string(b))
	return q
}

// docNames is what the log reads of a change's documents.
type docNames struct {
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName"`
	Name        string `json:"name"`    // tenants
	UserID      string `json:"user_id"` // access tokens and sessions
}

// changeName is the userName, displayName or name of a change's resource,
// after the change or, failing that, before it.
func changeName(c store.Change) string {
	for _, doc := range [][]byte{c.After, c.Before} {
		n := names(doc)
		if name := cmp.Or(n.UserName, n.DisplayName, n.Name); name != "" {
			return name
		}
	}
	return ""
}

func names(doc []byte) docNames {
	var n docNames
	if len(doc) > 0 {
		_ = json.Unmarshal(doc, &n)
	}
	return n
}

// matcher applies the user and route filters.
type matcher struct {
	user  string
	route string
	// ids are every user that ever had the userName: known before the
	// first record is read, so that what is kept does not depend on the
	// order the streams' pages are read in.
	ids map[userKey]bool
}

type userKey struct {
	tenant int64
	id     string
}

func newMatcher(ctx context.Context, tx store.ReadTx, f Filter) (*matcher, error) {
	m := &matcher{user: f.User, route: f.Route, ids: map[userKey]bool{}}
	if m.user == "" {
		return m, nil
	}
	// The temporal index finds every user that ever had the name, by key,
	// without reading the log.
	spans, err := tx.UserSpans(ctx, store.SpanFilter{At: store.AllTime, NameKeys: []string{strings.ToLower(m.user)}})
	if err != nil {
		return nil, fmt.Errorf("look up user: %w", err)
	}
	for _, u := range spans {
		m.ids[userKey{u.TenantID, u.ID}] = true
	}
	// The ids the name has now, for users that the state holds and the
	// index does not (written without a change).
	tenants, err := tx.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	for _, tn := range tenants {
		r, err := tx.ResourceByName(ctx, tn.ID, store.TypeUser, strings.ToLower(m.user))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("look up user: %w", err)
		default:
			m.ids[userKey{tn.ID, r.ID}] = true
		}
	}
	return m, nil
}

func (m *matcher) policy(p *PolicyEntry) bool {
	if m.user != "" {
		return false
	}
	if m.route == "" {
		return true
	}
	for _, r := range p.Routes {
		if strings.EqualFold(r, m.route) {
			return true
		}
	}
	return false
}

func (m *matcher) decision(d store.Decision) bool {
	if m.route != "" && !strings.EqualFold(d.Route, m.route) {
		return false
	}
	if m.user != "" && !strings.EqualFold(d.UserName, m.user) && !m.ids[userKey{d.TenantID, d.UserID}] {
		return false
	}
	return true
}

func (m *matcher) change(c store.Change, e *ChangeEntry) bool {
	if m.user == "" {
		return true
	}
	switch c.ResourceType {
	case store.TypeUser:
		return m.ids[userKey{c.TenantID, c.ResourceID}] ||
			strings.EqualFold(e.Name, m.user) || strings.EqualFold(names(c.Before).UserName, m.user)
	case store.TypeAccessToken, store.TypeSession:
		for _, doc := range [][]byte{c.After, c.Before} {
			if id := names(doc).UserID; id != "" && m.ids[userKey{c.TenantID, id}] {
				return true
			}
		}
	}
	for _, edge := range c.Edges {
		if m.ids[userKey{c.TenantID, edge.Member}] {
			return true
		}
	}
	return false
}
