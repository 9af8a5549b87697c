package store

import (
	"context"
	"time"
)

// The audit trail's export and retention state: how far each SIEM sink
// has delivered each stream (its cursor), and where retention cut the
// head of a stream (its anchor).

// AuditAnchor is where the decision stream starts after retention pruned
// its head: the sequence number, hash and time of the last record
// deleted. The first record kept has Seq+1 and chains to Hash, so the
// verifier starts from the anchor instead of from an empty chain.
type AuditAnchor struct {
	Stream string
	Seq    int64
	Hash   []byte
	At     time.Time // the last deleted record's time
	Pruned time.Time // when retention last moved the anchor
}

// AuditExportReadTx reads export cursors and retention anchors (part of
// ReadTx).
type AuditExportReadTx interface {
	// ExportCursor returns the sequence number through which sink has
	// delivered stream; ErrNotFound when the sink has no cursor for it.
	ExportCursor(ctx context.Context, sink, stream string) (int64, error)
	// AuditAnchor returns the stream's retention anchor; ErrNotFound when
	// nothing was ever pruned from it.
	AuditAnchor(ctx context.Context, stream string) (AuditAnchor, error)
}

// AuditExportTx moves export cursors and prunes decisions (part of Tx).
type AuditExportTx interface {
	// SetExportCursor records that sink has delivered stream through seq.
	SetExportCursor(ctx context.Context, sink, stream string, seq int64) error
	// PruneDecisions deletes decisions from the head of the decision
	// stream, in sequence order: those with Seq <= through and At before
	// before, stopping at the first that is not, at most limit of them,
	// and never the last decision (the next one appended chains to it).
	// It moves the stream's anchor to the last record deleted, in the
	// same transaction, and returns how many it deleted.
	PruneDecisions(ctx context.Context, before time.Time, through int64, limit int, now time.Time) (int, error)
}
