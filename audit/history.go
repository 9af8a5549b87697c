package audit

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store"
)

// ChangeRef names a directory change.
type ChangeRef struct {
	Seq          int64     `json:"seq"`
	At           time.Time `json:"at"`
	Op           string    `json:"op"`
	ResourceType string    `json:"resource_type"`
	ResourceID   string    `json:"resource_id"`
	ResourceName string    `json:"resource_name,omitempty"` // userName or displayName
	Actor        string    `json:"actor"`
}

// Boundary is where an interval of access begins or ends: at a directory
// change, or at a policy version.
type Boundary struct {
	// At is when the change took effect. Change times need not grow with
	// their sequence numbers; a change takes effect at the latest time of
	// the changes up to it (see store.HistoryReadTx).
	At     time.Time  `json:"at"`
	Change *ChangeRef `json:"change,omitempty"`
	Policy *PolicyRef `json:"policy,omitempty"`
}

func (b Boundary) String() string {
	switch {
	case b.Change != nil:
		c := b.Change
		s := fmt.Sprintf("change %d: %s %s %s", c.Seq, c.Op, strings.ToLower(c.ResourceType), c.ResourceID)
		if c.ResourceName != "" {
			s += fmt.Sprintf(" (%s)", c.ResourceName)
		}
		return s + " by " + c.Actor
	case b.Policy != nil:
		return fmt.Sprintf("policy version %d from %s", b.Policy.Seq, b.Policy.Source)
	}
	return ""
}

// Interval is a time during which a user could reach a route: from From
// until To (nil: still). The user's name and the grant are those at the
// start.
type Interval struct {
	Route     string    `json:"route"`
	Tenant    string    `json:"tenant"`
	TenantID  int64     `json:"tenant_id"`
	UserID    string    `json:"user_id"`
	UserName  string    `json:"user_name"`
	Reason    string    `json:"reason"`
	Via       string    `json:"via"`
	GroupPath []string  `json:"group_path,omitempty"`
	From      Boundary  `json:"from"`
	To        *Boundary `json:"to"`
}

// UserRef is one user, by tenant and id, with its latest userName.
type UserRef struct {
	Tenant   string `json:"tenant"`
	TenantID int64  `json:"tenant_id"`
	UserID   string `json:"user_id"`
	UserName string `json:"user_name"`
}

// HistoryResult answers History.
type HistoryResult struct {
	User  string `json:"user"`
	Route string `json:"route,omitempty"`
	// Since is when the first policy version was loaded: before it,
	// nothing is known of who could reach what.
	Since time.Time `json:"since"`
	// Users are every user that ever had the userName asked about (a
	// user deleted and created again is two); their whole history counts,
	// under any name.
	Users     []UserRef  `json:"users"`
	Intervals []Interval `json:"intervals"`
}

// History returns the intervals in which the user named user (a userName,
// or "tenant/userName") could reach each route, or only the route named
// route, with the change or policy version that opened and closed each.
// Intervals come sorted by route, then start.
func History(ctx context.Context, st Viewer, user, route string) (*HistoryResult, error) {
	user, route = strings.TrimSpace(user), strings.TrimSpace(route)
	var res *HistoryResult
	err := st.View(ctx, func(tx store.ReadTx) error {
		var err error
		res, err = history(ctx, tx, user, route)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", user, err)
	}
	return res, nil
}

// version is a policy version, compiled, with when it took effect: the
// latest load time of it and the versions recorded before it. A version
// loaded after another is in force after it even when the clock stepped
// back in between, as directory changes are (see store.HistoryReadTx).
type version struct {
	store.PolicyVersion
	p   *policy.Policy
	eff time.Time
}

func history(ctx context.Context, tx store.ReadTx, user, route string) (*HistoryResult, error) {
	versions, err := allVersions(ctx, tx)
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("%w: no policy version was ever recorded (scimgate serve records one when it starts)", ErrNoPolicy)
	}
	var groupNames []string
	known := false
	for _, v := range versions {
		for _, r := range v.p.Routes {
			if route != "" && r.Name != route {
				continue
			}
			known = true
			g, _ := ruleNames(r)
			groupNames = append(groupNames, g...)
		}
	}
	if !known {
		return nil, fmt.Errorf("%w %q: no policy version ever had it", ErrUnknownRoute, route)
	}
	d, ids, err := loadUserSpans(ctx, tx, user, groupNames)
	if err != nil {
		return nil, err
	}
	res := &HistoryResult{User: user, Route: route, Since: versions[0].eff, Intervals: []Interval{}}
	tenants := d.tenantNames()
	for _, k := range ids {
		ref := UserRef{Tenant: tenants[k.Tenant], TenantID: k.Tenant, UserID: k.ID}
		for _, u := range d.users {
			if u.TenantID == k.Tenant && u.ID == k.ID {
				ref.UserName = u.UserName // spans come in order: the last is the latest
			}
		}
		res.Users = append(res.Users, ref)
	}
	tl, err := newTimeline(ctx, tx, d, versions)
	if err != nil {
		return nil, err
	}
	type key struct {
		user  snapshot.Key
		route string
	}
	open := map[key]*Interval{}
	for _, at := range tl.times {
		v := tl.versionAt(at)
		holds := func(from, to int64) bool { return !tl.time(from).After(at) && tl.time(to).After(at) }
		eng := engine.New(fixed{d.snapshot(0, holds)}, v.p, engine.Options{})
		snap := eng.Snapshot()
		now := map[key]engine.Explanation{}
		users := map[snapshot.Key]*snapshot.User{}
		for _, k := range ids {
			u, ok := snap.User(k)
			if !ok {
				continue
			}
			users[k] = u
			for _, r := range v.p.Routes {
				if route != "" && r.Name != route {
					continue
				}
				if x := eng.ExplainRoute(engine.Principal{User: k}, r.Name); x.Allow {
					now[key{k, r.Name}] = x
				}
			}
		}
		var b *Boundary
		for k, in := range open {
			if _, ok := now[k]; !ok {
				if b == nil {
					b = tl.boundary(at)
				}
				in.To = b
				res.Intervals = append(res.Intervals, *in)
				delete(open, k)
			}
		}
		for k, x := range now {
			if open[k] != nil {
				continue
			}
			if b == nil {
				b = tl.boundary(at)
			}
			a := access(x, users[k.user], tenants)
			open[k] = &Interval{Route: k.route, Tenant: a.Tenant, TenantID: a.TenantID, UserID: a.UserID, UserName: a.UserName,
				Reason: a.Reason, Via: a.Via, GroupPath: a.GroupPath, From: *b}
		}
	}
	for _, in := range open {
		res.Intervals = append(res.Intervals, *in)
	}
	if err := tl.describe(ctx, tx); err != nil {
		return nil, err
	}
	slices.SortFunc(res.Intervals, func(a, b Interval) int {
		return cmp.Or(strings.Compare(a.Route, b.Route), a.From.At.Compare(b.From.At), cmp.Compare(a.TenantID, b.TenantID), strings.Compare(a.UserID, b.UserID))
	})
	return res, nil
}

// allVersions reads and compiles every policy version, in sequence
// order, which is also the order of the times they took effect (as
// store.AuditReadTx.PolicyVersionAt chooses the version in force).
func allVersions(ctx context.Context, tx store.ReadTx) ([]version, error) {
	var out []version
	var after int64
	var eff time.Time
	for {
		vs, err := tx.PolicyVersions(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			p, err := compile(v)
			if err != nil {
				return nil, err
			}
			if len(out) == 0 || v.At.After(eff) {
				eff = v.At
			}
			out = append(out, version{v, p, eff})
			after = v.Seq
		}
		if len(vs) < 1000 {
			break
		}
	}
	return out, nil
}

// loadUserSpans reads what decisions for the users named user can depend
// on, over all time: those users (every user that ever had the name) under
// all their names; every user of any tenant that had one of those names
// (the unique-name rule); every group they were in, directly or through
// nesting, with those memberships; the groups named groupNames; the
// tenants. It returns the users' keys too.
func loadUserSpans(ctx context.Context, tx store.ReadTx, user string, groupNames []string) (*dirSpans, []snapshot.Key, error) {
	d := &dirSpans{}
	var err error
	if d.tenants, err = tx.TenantSpans(ctx); err != nil {
		return nil, nil, err
	}
	name, tenant := strings.ToLower(strings.TrimSpace(user)), int64(0)
	if t, short, ok := strings.Cut(strings.TrimSpace(user), "/"); ok && t != "" && short != "" {
		for _, ts := range d.tenants {
			if strings.EqualFold(ts.Name, t) {
				name, tenant = strings.ToLower(short), ts.ID
			}
		}
	}
	named, err := tx.UserSpans(ctx, store.SpanFilter{At: store.AllTime, NameKeys: []string{name}})
	if err != nil {
		return nil, nil, err
	}
	var ids []snapshot.Key
	byTenant := map[int64][]string{}
	for _, u := range named {
		k := snapshot.Key{Tenant: u.TenantID, ID: u.ID}
		if (tenant == 0 || u.TenantID == tenant) && !slices.Contains(ids, k) {
			ids = append(ids, k)
			byTenant[k.Tenant] = append(byTenant[k.Tenant], k.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil, fmt.Errorf("%w %q: no user ever had that userName", ErrUnknownUser, user)
	}
	// Every name the users had, then every user with one of them.
	var names []string
	for t, list := range byTenant {
		us, err := tx.UserSpans(ctx, store.SpanFilter{At: store.AllTime, TenantID: t, IDs: list})
		if err != nil {
			return nil, nil, err
		}
		for _, u := range us {
			names = append(names, strings.ToLower(u.UserName))
		}
	}
	if d.users, err = tx.UserSpans(ctx, store.SpanFilter{At: store.AllTime, NameKeys: names}); err != nil {
		return nil, nil, err
	}
	// The groups above the users, through every membership they ever had.
	seen := map[snapshot.Key]bool{}
	frontier := byTenant
	for len(frontier) > 0 {
		next := map[int64][]string{}
		for t, members := range frontier {
			es, err := tx.EdgeSpans(ctx, store.EdgeFilter{At: store.AllTime, TenantID: t, Members: members})
			if err != nil {
				return nil, nil, err
			}
			d.edges = append(d.edges, es...)
			for _, e := range es {
				if k := (snapshot.Key{Tenant: t, ID: e.Group}); !seen[k] {
					seen[k] = true
					next[t] = append(next[t], e.Group)
				}
			}
		}
		frontier = next
	}
	groups := map[int64][]string{}
	for k := range seen {
		groups[k.Tenant] = append(groups[k.Tenant], k.ID)
	}
	for t, list := range groups {
		gs, err := tx.GroupSpans(ctx, store.SpanFilter{At: store.AllTime, TenantID: t, IDs: list})
		if err != nil {
			return nil, nil, err
		}
		d.groups = append(d.groups, gs...)
	}
	if len(groupNames) > 0 {
		gs, err := tx.GroupSpans(ctx, store.SpanFilter{At: store.AllTime, NameKeys: groupNames})
		if err != nil {
			return nil, nil, err
		}
		for _, g := range gs {
			if !seen[snapshot.Key{Tenant: g.TenantID, ID: g.ID}] {
				d.groups = append(d.groups, g)
			}
		}
	}
	return d, ids, nil
}

// timeline is when the spans of a dirSpans and the policy versions take
// effect.
type timeline struct {
	versions []version
	times    []time.Time         // every time something takes effect, from the first policy version on, sorted
	seqTime  map[int64]time.Time // change -> when it took effect
	lastSeq  map[time.Time]int64 // time -> the last change of the spans that took effect then
	changes  map[int64]*ChangeRef
}

func newTimeline(ctx context.Context, tx store.ReadTx, d *dirSpans, versions []version) (*timeline, error) {
	var seqs []int64
	add := func(s ...int64) {
		for _, x := range s {
			if x != store.SpanOpen {
				seqs = append(seqs, x)
			}
		}
	}
	for _, t := range d.tenants {
		add(t.From)
	}
	for _, g := range d.groups {
		add(g.From, g.To)
	}
	for _, u := range d.users {
		add(u.From, u.To)
	}
	for _, e := range d.edges {
		add(e.From, e.To)
	}
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	st, err := tx.SeqTimes(ctx, seqs)
	if err != nil {
		return nil, err
	}
	tl := &timeline{versions: versions, seqTime: st, lastSeq: map[time.Time]int64{}, changes: map[int64]*ChangeRef{}}
	since := versions[0].eff
	tl.times = append(tl.times, since)
	for _, s := range seqs {
		at := st[s]
		tl.lastSeq[at] = max(tl.lastSeq[at], s)
		if at.After(since) {
			tl.times = append(tl.times, at)
		}
	}
	for _, v := range versions {
		tl.times = append(tl.times, v.eff)
	}
	slices.SortFunc(tl.times, time.Time.Compare)
	tl.times = slices.CompactFunc(tl.times, time.Time.Equal)
	return tl, nil
}

// time is when change seq took effect; never, for SpanOpen.
func (tl *timeline) time(seq int64) time.Time {
	if seq == store.SpanOpen {
		return time.Unix(1<<62, 0)
	}
	return tl.seqTime[seq]
}

// versionAt returns the policy version in force at t: the last to take
// effect by t.
func (tl *timeline) versionAt(t time.Time) version {
	i, _ := slices.BinarySearchFunc(tl.versions, t, func(v version, t time.Time) int {
		if v.eff.After(t) {
			return 1
		}
		return -1
	})
	return tl.versions[i-1]
}

// boundary says what took effect at t: the policy version, when one took
// effect then (the last, when several did); otherwise the change that the
// history depends on (the last, when several took effect at once). A
// policy version is named first because that rule holds whichever
// changes took effect at the same instant, related or not.
func (tl *timeline) boundary(t time.Time) *Boundary {
	if v := tl.versionAt(t); v.eff.Equal(t) {
		ref := policyRef(v.PolicyVersion)
		return &Boundary{At: t, Policy: &ref}
	}
	s := tl.lastSeq[t]
	c := tl.changes[s]
	if c == nil {
		c = &ChangeRef{Seq: s}
		tl.changes[s] = c
	}
	return &Boundary{At: t, Change: c}
}

// describe fills in the changes the intervals' boundaries name.
func (tl *timeline) describe(ctx context.Context, tx store.ReadTx) error {
	for s, ref := range tl.changes {
		cs, err := tx.Changes(ctx, s-1, 1)
		if err != nil {
			return err
		}
		if len(cs) == 0 || cs[0].Seq != s {
			continue // the log was cut; verify says where
		}
		c := cs[0]
		*ref = ChangeRef{Seq: s, At: c.At, Op: c.Op, ResourceType: c.ResourceType, ResourceID: c.ResourceID, Actor: c.Actor,
			ResourceName: changeName(c)}
	}
	return nil
}
