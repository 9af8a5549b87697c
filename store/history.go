package store

import (
	"context"
	"math"
	"time"
)

// The temporal index of the directory answers point-in-time questions
// ("who could reach route R at time T") without replaying the change log.
// Backends derive it from the change log, in the same transaction as each
// change, so that the two never disagree: every user, group and
// membership edge is a list of spans, each holding from one change until
// another ended it.
//
// Times map to changes through the running maximum of change times (a
// change stamped earlier may commit after one stamped later): the
// directory at time T is the state after the last change whose running
// maximum is at or before T.

// SpanOpen is the To of a span that still holds.
const SpanOpen int64 = math.MaxInt64

// AllTime as SpanFilter.At selects spans of any time.
const AllTime int64 = -1

// UserSpan is a user as it was from change From until change To: its
// name and whether it was active. Born is the change that created it.
type UserSpan struct {
	TenantID int64
	ID       string
	UserName string
	Active   bool
	Born     int64
	From, To int64
}

// GroupSpan is a group and its displayName from change From until To.
type GroupSpan struct {
	TenantID    int64
	ID          string
	DisplayName string
	Born        int64
	From, To    int64
}

// EdgeSpan is a direct membership from change From until To.
type EdgeSpan struct {
	TenantID   int64
	Group      string
	Member     string
	MemberType string // TypeUser or TypeGroup
	From, To   int64
}

// TenantSpan is a tenant, from the change that created it on.
type TenantSpan struct {
	ID   int64
	Name string
	From int64
}

// SpanFilter selects the spans of users or groups.
type SpanFilter struct {
	// At keeps the spans that hold after change At (From <= At < To);
	// AllTime keeps every span. 0 is the empty directory before the first
	// change.
	At int64
	// IDs, when not empty, selects the resources of tenant TenantID with
	// these ids; otherwise NameKeys, when not empty, selects the resources
	// of every tenant with one of these case-folded names; otherwise every
	// resource.
	TenantID int64
	IDs      []string
	NameKeys []string
}

// EdgeFilter selects membership spans.
type EdgeFilter struct {
	At       int64 // as in SpanFilter
	TenantID int64
	// Groups selects the edges of these groups (their members); otherwise
	// Members selects the edges of these members (their groups). One of
	// them must be set.
	Groups  []string
	Members []string
}

// HistoryReadTx reads the temporal index (part of ReadTx). Spans come in
// order of tenant, resource id (group, then member, for edges) and From.
type HistoryReadTx interface {
	// SeqAt returns the last change in force at t: the directory at t is
	// the state after it (0: before the first change).
	SeqAt(ctx context.Context, t time.Time) (int64, error)
	// SeqTimes returns the time each change took effect: the running
	// maximum of change times up to it.
	SeqTimes(ctx context.Context, seqs []int64) (map[int64]time.Time, error)
	UserSpans(ctx context.Context, f SpanFilter) ([]UserSpan, error)
	GroupSpans(ctx context.Context, f SpanFilter) ([]GroupSpan, error)
	EdgeSpans(ctx context.Context, f EdgeFilter) ([]EdgeSpan, error)
	TenantSpans(ctx context.Context) ([]TenantSpan, error)
}
