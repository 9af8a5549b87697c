package audit

import (
	"cmp"
	"slices"
	"strings"

	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store"
)

// dirSpans is part of the directory's history, read from the temporal
// index.
type dirSpans struct {
	tenants []store.TenantSpan
	groups  []store.GroupSpan
	users   []store.UserSpan
	edges   []store.EdgeSpan
}

// snapshot builds the directory of the spans that hold by holds(From,
// To); seq is the snapshot's last change.
func (d *dirSpans) snapshot(seq int64, holds func(from, to int64) bool) *snapshot.Snapshot {
	b := snapshot.NewBuilder(seq)
	for _, t := range d.tenants {
		if holds(t.From, store.SpanOpen) {
			b.AddTenant(t.ID, t.Name)
		}
	}
	var groups []store.GroupSpan
	for _, g := range d.groups {
		if holds(g.From, g.To) {
			groups = append(groups, g)
		}
	}
	// Creation order, as the live snapshot indexes groups: group paths
	// break ties alike.
	slices.SortFunc(groups, func(a, b store.GroupSpan) int {
		return cmp.Or(cmp.Compare(a.Born, b.Born), cmp.Compare(a.TenantID, b.TenantID), strings.Compare(a.ID, b.ID))
	})
	for _, g := range groups {
		b.AddGroup(snapshot.Key{Tenant: g.TenantID, ID: g.ID}, g.DisplayName)
	}
	for _, u := range d.users {
		if holds(u.From, u.To) {
			b.AddUser(snapshot.Key{Tenant: u.TenantID, ID: u.ID}, u.UserName, u.Active)
		}
	}
	for _, e := range d.edges {
		if holds(e.From, e.To) {
			b.AddMember(e.TenantID, e.Group, e.Member, e.MemberType == store.TypeGroup)
		}
	}
	return b.Snapshot()
}

// tenantNames maps tenant ids to names.
func (d *dirSpans) tenantNames() map[int64]string {
	m := make(map[int64]string, len(d.tenants))
	for _, t := range d.tenants {
		m[t.ID] = t.Name
	}
	return m
}
