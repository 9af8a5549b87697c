// Package audit is scimgate's audit trail. It keeps three append-only,
// hash-chained streams in the store — directory changes (written with
// every SCIM change), the policies that were loaded, and access decisions —
// and answers questions about them: Verify recomputes every chain and says
// where a record was edited, inserted, reordered or deleted; Log merges
// the streams by time; the point-in-time queries say who could reach a
// route when, and why.
//
// What the chains prove, and what they do not: each record's hash covers
// the previous record's hash, so editing, deleting, inserting or
// reordering a record anywhere but at the end breaks the chain at that
// place. Someone with write access to the database and this source code
// can still rewrite a whole chain from the altered record on, or cut its
// tail; only a head (stream, sequence number and hash) kept outside the
// database, and checked with verify --head, or an export to a system they
// cannot write, detects that.
package audit
