package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/scimgate/scimgate/store"
)

// The temporal index (store.HistoryReadTx): AppendChange indexes each
// change in its own transaction, and a store that opens over changes the
// index has not seen (a database from before migration 0006, or one an
// older binary wrote to) indexes them first. Indexing reads only the
// change: the index says what the change log says.
//
// The changes the index reads are those package directory writes: a
// user's or group's document after the change (After) and the membership
// edges it added or removed (Edges). A user event without a userName, or
// a group event without a displayName, does not describe the resource in
// that form and leaves its spans as they were; its edges still count.

const spanOpen = store.SpanOpen

// indexHistory is a test seam: benchmarks turn it off to measure what the
// index costs a write.
var indexHistory = true

// indexChange adds c, just appended, to the temporal index. Changes the
// index has not seen before c (written by an older binary) are indexed
// first.
func (t *txn) indexChange(ctx context.Context, c *store.Change) error {
	if !indexHistory {
		return nil
	}
	// The usual case, in one statement: the change before c is indexed,
	// and c takes effect at the later of its time and that change's.
	res, err := t.q.ExecContext(ctx, `INSERT INTO history_clock (seq, hat)
		SELECT ?1, MAX(?2, hat) FROM history_clock WHERE seq = ?1 - 1`, c.Seq, auditNanos(c.At))
	if err != nil {
		return fmt.Errorf("index change %d: %w", c.Seq, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		// The first change, or changes before c that are not indexed.
		last, hat, err := t.historyHead(ctx)
		if err != nil {
			return err
		}
		if last < c.Seq-1 {
			if hat, err = t.indexChanges(ctx, last, c.Seq-1, hat); err != nil {
				return err
			}
		}
		if _, err := t.clock(ctx, c, hat); err != nil {
			return fmt.Errorf("index change %d: %w", c.Seq, err)
		}
	}
	if err := t.indexResource(ctx, c); err != nil {
		return fmt.Errorf("index change %d: %w", c.Seq, err)
	}
	return nil
}

// historyHead returns the last change indexed and its time (the running
// maximum); 0 and math.MinInt64 when none is.
func (t *txn) historyHead(ctx context.Context) (int64, int64, error) {
	var seq, hat int64
	err := t.q.QueryRowContext(ctx, `SELECT seq, hat FROM history_clock ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hat)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, math.MinInt64, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read history head: %w", err)
	}
	return seq, hat, nil
}

// indexChanges indexes the changes after after, up to and including
// upTo, and returns the running maximum of their times.
func (t *txn) indexChanges(ctx context.Context, after, upTo, hat int64) (int64, error) {
	const chunk = 5000
	for after < upTo {
		cs, err := t.Changes(ctx, after, min(chunk, int(upTo-after)))
		if err != nil {
			return 0, fmt.Errorf("read changes to index: %w", err)
		}
		if len(cs) == 0 {
			break
		}
		for i := range cs {
			if cs[i].Seq > upTo {
				return hat, nil
			}
			if hat, err = t.clock(ctx, &cs[i], hat); err == nil {
				err = t.indexResource(ctx, &cs[i])
			}
			if err != nil {
				return 0, fmt.Errorf("index change %d: %w", cs[i].Seq, err)
			}
		}
		after = cs[len(cs)-1].Seq
	}
	return hat, nil
}

// clock records when c takes effect, given the running maximum of the
// times of the changes before it, and returns the maximum including c.
func (t *txn) clock(ctx context.Context, c *store.Change, hat int64) (int64, error) {
	hat = max(hat, auditNanos(c.At))
	_, err := t.q.ExecContext(ctx, `INSERT INTO history_clock (seq, hat) VALUES (?, ?)`, c.Seq, hat)
	return hat, err
}

// indexResource records what c did to tenants, users, groups and
// memberships.
func (t *txn) indexResource(ctx context.Context, c *store.Change) error {
	switch c.ResourceType {
	case store.TypeTenant:
		var d struct {
			Name string `json:"name"`
		}
		if c.Op == store.OpCreate && json.Unmarshal(c.After, &d) == nil && d.Name != "" {
			_, err := t.q.ExecContext(ctx, `INSERT OR IGNORE INTO history_tenants (tenant_id, name, from_seq) VALUES (?, ?, ?)`,
				c.TenantID, d.Name, c.Seq)
			return err
		}
		return nil
	case store.TypeUser, store.TypeGroup:
	default:
		return nil
	}
	if c.Op == store.OpDelete {
		return t.closeResource(ctx, c.TenantID, c.ResourceType, c.ResourceID, c.Seq)
	}
	// A document that does not decode, or lacks the name, is not one the
	// index can describe: its spans stay as they were. So do they when
	// the change left name and state as they were (a membership PATCH).
	if after, ok := spanDocOf(c.ResourceType, c.After); ok {
		before, known := spanDocOf(c.ResourceType, c.Before)
		if c.Op == store.OpCreate || !known || before != after {
			if err := t.putSpan(ctx, c, after, known); err != nil {
				return err
			}
		}
	}
	return t.indexEdges(ctx, c.TenantID, c.Edges, c.Seq)
}

// spanDoc is what a span records of a user (userName, active) or group
// (displayName).
type spanDoc struct {
	name   string
	active bool
}

// spanDocOf reads a change's document; ok is false when it names no user
// or group.
func spanDocOf(typ string, doc []byte) (spanDoc, bool) {
	if doc == nil {
		return spanDoc{}, false
	}
	var d struct {
		UserName    *string `json:"userName"`
		DisplayName *string `json:"displayName"`
		Active      *bool   `json:"active"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return spanDoc{}, false
	}
	switch {
	case typ == store.TypeUser && d.UserName != nil && *d.UserName != "":
		// A user is active unless deactivated, as the directory has it.
		return spanDoc{name: *d.UserName, active: d.Active == nil || *d.Active}, true
	case typ == store.TypeGroup && d.DisplayName != nil:
		return spanDoc{name: *d.DisplayName, active: true}, true
	}
	return spanDoc{}, false
}

// putSpan records a user's name and state, or a group's name, from change
// c on. A resource just created (ids are never reused) has no span yet;
// when the change's document before says what changed (known), the open
// span ends; otherwise a span starts only when it differs from the open
// one.
func (t *txn) putSpan(ctx context.Context, c *store.Change, d spanDoc, known bool) error {
	// The table and column names are constants: the query texts stay
	// cacheable.
	table, cols := "history_users", "user_name, active"
	if c.ResourceType == store.TypeGroup {
		table, cols = "history_groups", "display_name, 1"
	}
	born := c.Seq
	switch {
	case c.Op == store.OpCreate:
	case known:
		err := t.q.QueryRowContext(ctx, `UPDATE `+table+` SET to_seq = ?1 WHERE tenant_id = ?2 AND id = ?3 AND to_seq = ?4
			AND from_seq = (SELECT MAX(from_seq) FROM `+table+` WHERE tenant_id = ?2 AND id = ?3) RETURNING born`,
			c.Seq, c.TenantID, c.ResourceID, spanOpen).Scan(&born)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	default:
		var from, to, was int64
		var name string
		var active bool
		err := t.q.QueryRowContext(ctx, `SELECT from_seq, to_seq, born, `+cols+` FROM `+table+`
			WHERE tenant_id = ? AND id = ? ORDER BY from_seq DESC LIMIT 1`, c.TenantID, c.ResourceID).Scan(&from, &to, &was, &name, &active)
		switch {
		case errors.Is(err, sql.ErrNoRows) || (err == nil && to != spanOpen):
		case err != nil:
			return err
		case name == d.name && active == d.active:
			return nil
		default:
			born = was
			if _, err := t.q.ExecContext(ctx, `UPDATE `+table+` SET to_seq = ? WHERE tenant_id = ? AND id = ? AND from_seq = ?`,
				c.Seq, c.TenantID, c.ResourceID, from); err != nil {
				return err
			}
		}
	}
	var err error
	if c.ResourceType == store.TypeGroup {
		_, err = t.q.ExecContext(ctx, `INSERT INTO history_groups (tenant_id, id, from_seq, to_seq, born, display_name, name_key)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, c.TenantID, c.ResourceID, c.Seq, spanOpen, born, d.name, nameKey(d.name))
	} else {
		_, err = t.q.ExecContext(ctx, `INSERT INTO history_users (tenant_id, id, from_seq, to_seq, born, user_name, name_key, active)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.TenantID, c.ResourceID, c.Seq, spanOpen, born, d.name, nameKey(d.name), d.active)
	}
	return err
}

// nameKey folds a user's or group's name for store.SpanFilter.NameKeys
// as policy references, snapshots and resources.name_key fold it: with
// Go's strings.ToLower. SQLite's lower() folds ASCII only, so the index
// never computes a key in SQL ("ÉQUIPE" must find "équipe").
func nameKey(name string) string { return strings.ToLower(name) }

// rekeyHistoryNames sets the name_key of every span whose name holds a
// character beyond ASCII to nameKey of its name: for spans written with
// SQLite's lower() (by migration 0009, and after reconcileHistory). An
// ASCII name's key is the same either way, and a UTF-8 string is ASCII
// when its length in characters is its length in bytes: only the other
// rows are read into Go.
func rekeyHistoryNames(ctx context.Context, q querier) error {
	for _, tbl := range []struct{ table, name string }{
		{"history_users", "user_name"},
		{"history_groups", "display_name"},
	} {
		type row struct {
			tenant    int64
			id        string
			from      int64
			name, key string
		}
		// The table and column names are constants.
		rows, err := queryAll(ctx, q, func(r rowScanner) (row, error) {
			var x row
			err := r.Scan(&x.tenant, &x.id, &x.from, &x.name, &x.key)
			return x, err
		}, `SELECT tenant_id, id, from_seq, `+tbl.name+`, name_key FROM `+tbl.table+`
			WHERE length(CAST(`+tbl.name+` AS BLOB)) <> length(`+tbl.name+`)`)
		if err != nil {
			return fmt.Errorf("re-key %s: %w", tbl.table, err)
		}
		for _, x := range rows {
			if k := nameKey(x.name); k != x.key {
				if _, err := q.ExecContext(ctx, `UPDATE `+tbl.table+` SET name_key = ? WHERE tenant_id = ? AND id = ? AND from_seq = ?`,
					k, x.tenant, x.id, x.from); err != nil {
					return fmt.Errorf("re-key %s: %w", tbl.table, err)
				}
			}
		}
	}
	return nil
}

// closeResource ends a deleted user's or group's open span and every open
// membership span naming it, whether or not the change lists the edges.
func (t *txn) closeResource(ctx context.Context, tenant int64, typ, id string, seq int64) error {
	table := "history_users"
	if typ == store.TypeGroup {
		table = "history_groups"
		if _, err := t.q.ExecContext(ctx, `UPDATE history_members SET to_seq = ?
			WHERE tenant_id = ? AND group_id = ? AND to_seq = ?`, seq, tenant, id, spanOpen); err != nil {
			return err
		}
	}
	// Without statistics SQLite would scan the tenant's edges by primary key.
	if _, err := t.q.ExecContext(ctx, `UPDATE history_members INDEXED BY history_members_member SET to_seq = ?
		WHERE tenant_id = ? AND member_id = ? AND to_seq = ?`, seq, tenant, id, spanOpen); err != nil {
		return err
	}
	// table is one of two constants: the query texts stay cacheable.
	_, err := t.q.ExecContext(ctx, `UPDATE `+table+` SET to_seq = ? WHERE tenant_id = ? AND id = ? AND to_seq = ?`,
		seq, tenant, id, spanOpen)
	return err
}

// indexEdges records the membership edges one change added and removed.
// An edge removed and added again by the same change (a PUT that lists a
// member the group had) did not change, nor did one added and removed.
// Added edges go in one statement per group and member type (a PATCH
// adding a thousand members is one statement); removed ones in one
// statement each, which finds the edge's open span by key.
func (t *txn) indexEdges(ctx context.Context, tenant int64, edges []store.EdgeChange, seq int64) error {
	if len(edges) == 0 {
		return nil
	}
	type key struct{ group, member string }
	type net struct {
		first, last bool
		typ         string
	}
	var order []key
	nets := make(map[key]*net, len(edges))
	for _, e := range edges {
		k := key{e.Group, e.Member}
		if n := nets[k]; n != nil {
			n.last = e.Added
			continue
		}
		nets[k] = &net{first: e.Added, last: e.Added, typ: e.MemberType}
		order = append(order, k)
	}
	type batch struct {
		group, typ string
		open       bool
	}
	var batches []batch
	members := map[batch][]string{}
	for _, k := range order {
		n := nets[k]
		if n.first != n.last {
			continue
		}
		b := batch{group: k.group, open: n.last}
		if b.open {
			b.typ = n.typ
		}
		if members[b] == nil {
			batches = append(batches, b)
		}
		members[b] = append(members[b], k.member)
	}
	for _, b := range batches {
		var err error
		switch ms := members[b]; {
		case len(ms) == 1 && b.open:
			_, err = t.q.ExecContext(ctx, `INSERT INTO history_members (tenant_id, group_id, member_id, from_seq, to_seq, member_type)
				VALUES (?, ?, ?, ?, ?, ?)`, tenant, b.group, ms[0], seq, spanOpen, b.typ)
		case !b.open:
			// One statement per edge: each finds the edge's open span (its
			// latest) by key, however many spans the edge had before; a
			// statement for many edges would scan them all.
			for _, m := range ms {
				if _, err = t.q.ExecContext(ctx, `UPDATE history_members SET to_seq = ?1
					WHERE tenant_id = ?2 AND group_id = ?3 AND member_id = ?4 AND to_seq = ?5 AND from_seq = (SELECT MAX(from_seq)
						FROM history_members WHERE tenant_id = ?2 AND group_id = ?3 AND member_id = ?4)`,
					seq, tenant, b.group, m, spanOpen); err != nil {
					break
				}
			}
		default:
			ids, _ := json.Marshal(ms) // strings always encode
			_, err = t.q.ExecContext(ctx, `INSERT INTO history_members (tenant_id, group_id, member_id, from_seq, to_seq, member_type)
				SELECT ?, ?, value, ?, ?, ? FROM json_each(?)`, tenant, b.group, seq, spanOpen, b.typ, string(ids))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// catchUpHistory indexes the changes the temporal index has not seen, in
// one transaction, when the store opens. When the index was empty and the
// log was not (a database from before the index), the state tables then
// correct what the log did not say: resources and memberships written
// without directory events (the benchmark dataset is loaded that way)
// get spans from the last change on, and spans the state contradicts
// end there.
func catchUpHistory(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("index history: %w", err)
	}
	defer tx.Rollback()
	t := &txn{q: tx, writable: true}
	last, hat, err := t.historyHead(ctx)
	if err != nil {
		return err
	}
	var newest int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&newest); err != nil {
		return fmt.Errorf("index history: %w", err)
	}
	if newest <= last {
		return nil
	}
	if _, err := t.indexChanges(ctx, last, newest, hat); err != nil {
		return fmt.Errorf("index history: %w", err)
	}
	if last == 0 {
		if err := reconcileHistory(ctx, tx, newest); err != nil {
			return fmt.Errorf("index history: reconcile with state: %w", err)
		}
	}
	return tx.Commit()
}

// reconcileHistory makes the spans open after change seq agree with the
// state tables.
func reconcileHistory(ctx context.Context, tx *sql.Tx, seq int64) error {
	stmts := []string{
		`CREATE TEMP TABLE cur_users AS SELECT tenant_id, id, json_extract(doc, '$.userName') AS user_name, active
			FROM resources WHERE type = 'User'`,
		`CREATE TEMP TABLE cur_groups AS SELECT tenant_id, id, display FROM resources WHERE type = 'Group'`,
		`CREATE TEMP TABLE cur_members AS SELECT g.tenant_id, g.id AS group_id, m.id AS member_id, m.type AS member_type
			FROM members e JOIN resources g ON g.rid = e.group_rid JOIN resources m ON m.rid = e.member_rid`,
		`CREATE INDEX temp.cur_users_id ON cur_users (tenant_id, id)`,
		`CREATE INDEX temp.cur_groups_id ON cur_groups (tenant_id, id)`,
		`CREATE INDEX temp.cur_members_id ON cur_members (tenant_id, group_id, member_id)`,

		// Spans the state contradicts end at seq (or go, when they began there).
		`DELETE FROM history_users WHERE to_seq = ?2 AND from_seq = ?1 AND NOT EXISTS (SELECT 1 FROM cur_users c
			WHERE c.tenant_id = history_users.tenant_id AND c.id = history_users.id
			AND c.user_name IS history_users.user_name AND c.active = history_users.active)`,
		`UPDATE history_users SET to_seq = ?1 WHERE to_seq = ?2 AND NOT EXISTS (SELECT 1 FROM cur_users c
			WHERE c.tenant_id = history_users.tenant_id AND c.id = history_users.id
			AND c.user_name IS history_users.user_name AND c.active = history_users.active)`,
		`DELETE FROM history_groups WHERE to_seq = ?2 AND from_seq = ?1 AND NOT EXISTS (SELECT 1 FROM cur_groups c
			WHERE c.tenant_id = history_groups.tenant_id AND c.id = history_groups.id AND c.display = history_groups.display_name)`,
		`UPDATE history_groups SET to_seq = ?1 WHERE to_seq = ?2 AND NOT EXISTS (SELECT 1 FROM cur_groups c
			WHERE c.tenant_id = history_groups.tenant_id AND c.id = history_groups.id AND c.display = history_groups.display_name)`,
		`DELETE FROM history_members WHERE to_seq = ?2 AND from_seq = ?1 AND NOT EXISTS (SELECT 1 FROM cur_members c
			WHERE c.tenant_id = history_members.tenant_id AND c.group_id = history_members.group_id AND c.member_id = history_members.member_id)`,
		`UPDATE history_members SET to_seq = ?1 WHERE to_seq = ?2 AND NOT EXISTS (SELECT 1 FROM cur_members c
			WHERE c.tenant_id = history_members.tenant_id AND c.group_id = history_members.group_id AND c.member_id = history_members.member_id)`,

		// What the state holds and no open span says starts at seq.
		`INSERT INTO history_users (tenant_id, id, from_seq, to_seq, born, user_name, name_key, active)
			SELECT c.tenant_id, c.id, ?1, ?2,
				COALESCE((SELECT MIN(h.born) FROM history_users h WHERE h.tenant_id = c.tenant_id AND h.id = c.id), ?1),
				COALESCE(c.user_name, ''), lower(COALESCE(c.user_name, '')), c.active
			FROM cur_users c WHERE NOT EXISTS (SELECT 1 FROM history_users h
				WHERE h.tenant_id = c.tenant_id AND h.id = c.id AND h.to_seq = ?2)`,
		`INSERT INTO history_groups (tenant_id, id, from_seq, to_seq, born, display_name, name_key)
			SELECT c.tenant_id, c.id, ?1, ?2,
				COALESCE((SELECT MIN(h.born) FROM history_groups h WHERE h.tenant_id = c.tenant_id AND h.id = c.id), ?1),
				c.display, lower(c.display)
			FROM cur_groups c WHERE NOT EXISTS (SELECT 1 FROM history_groups h
				WHERE h.tenant_id = c.tenant_id AND h.id = c.id AND h.to_seq = ?2)`,
		`INSERT INTO history_members (tenant_id, group_id, member_id, from_seq, to_seq, member_type)
			SELECT c.tenant_id, c.group_id, c.member_id, ?1, ?2, c.member_type
			FROM cur_members c WHERE NOT EXISTS (SELECT 1 FROM history_members h
				WHERE h.tenant_id = c.tenant_id AND h.group_id = c.group_id AND h.member_id = c.member_id AND h.to_seq = ?2)`,
		`INSERT OR IGNORE INTO history_tenants (tenant_id, name, from_seq) SELECT id, name, ?1 FROM tenants`,

		`DROP TABLE temp.cur_users`,
		`DROP TABLE temp.cur_groups`,
		`DROP TABLE temp.cur_members`,
	}
	for _, q := range stmts {
		var args []any
		switch {
		case strings.Contains(q, "?2"):
			args = []any{seq, spanOpen}
		case strings.Contains(q, "?1"):
			args = []any{seq}
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	// The spans above got their keys from SQLite's lower(): fold the
	// names beyond ASCII in Go.
	return rekeyHistoryNames(ctx, tx)
}
