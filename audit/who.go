package audit

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store"
)

// Point-in-time questions are answered by the live decision core: the
// directory as it was at T is rebuilt from the store's temporal index
// (store.HistoryReadTx) as a snapshot, the policy in force at T is
// compiled from its recorded version, and engine decides. Tenant-qualified
// names, unique-name rules, deny rules and nesting therefore behave as
// they did for live requests. Only the part of the directory that can
// matter is rebuilt: for Who, the groups the route names, the groups
// nested in them and their members; for History, the user, every group
// it was ever in, directly or not, and the groups the rules name.

// Errors the point-in-time queries return; callers branch on them (the
// admin API answers 404).
var (
	// ErrNoPolicy: no policy version was in force at the time asked
	// about, so nothing can be said of who could reach what.
	ErrNoPolicy = errors.New("no policy in force")
	// ErrUnknownRoute: the policy in force has no route of that name.
	ErrUnknownRoute = errors.New("unknown route")
	// ErrUnknownUser: no user ever had that userName.
	ErrUnknownUser = errors.New("unknown user")
)

// Grants say how a user could reach a route, in answers.
const (
	GrantPublic = "public"    // the route admits everyone
	GrantUser   = "user rule" // the route names the user
)

// PolicyRef names a policy version.
type PolicyRef struct {
	Seq    int64     `json:"seq"`
	At     time.Time `json:"at"`
	Source string    `json:"source"`
	Digest string    `json:"digest"`
}

func policyRef(v store.PolicyVersion) PolicyRef {
	return PolicyRef{Seq: v.Seq, At: v.At, Source: v.Source, Digest: v.Digest}
}

// Access is one user who could reach a route, and why.
type Access struct {
	Tenant   string `json:"tenant"`
	TenantID int64  `json:"tenant_id"`
	UserID   string `json:"user_id"`
	UserName string `json:"user_name"`
	Reason   string `json:"reason"` // engine's reason: group-ok, user-ok or public
	// Via is the group path that granted access ("platform -> engineering",
	// from the user's direct group up to the group the rule names),
	// GrantUser or GrantPublic.
	Via       string   `json:"via"`
	GroupPath []string `json:"group_path,omitempty"`
}

// WhoResult answers Who.
type WhoResult struct {
	Route string    `json:"route"`
	At    time.Time `json:"at"`
	// Seq is the last change in force at At: the directory is the state
	// after it.
	Seq    int64     `json:"seq"`
	Policy PolicyRef `json:"policy"`
	Users  []Access  `json:"users"`
}

// Who returns every user who could reach the route at time at, sorted by
// userName and tenant, with what granted each access.
func Who(ctx context.Context, st Viewer, route string, at time.Time) (*WhoResult, error) {
	route = strings.TrimSpace(route)
	var res *WhoResult
	err := st.View(ctx, func(tx store.ReadTx) error {
		v, pol, err := policyAt(ctx, tx, at)
		if err != nil {
			return err
		}
		r := pol.Route(route)
		if r == nil {
			return fmt.Errorf("%w %q at %s: policy version %d (%s, loaded %s) has routes %s", ErrUnknownRoute, route,
				at.UTC().Format(time.RFC3339Nano), v.Seq, v.Source, v.At.UTC().Format(time.RFC3339), routeNames(pol))
		}
		seq, err := tx.SeqAt(ctx, at)
		if err != nil {
			return err
		}
		d, err := loadRouteSpans(ctx, tx, seq, r)
		if err != nil {
			return err
		}
		snap := d.snapshot(seq, func(from, to int64) bool { return from <= seq && seq < to })
		eng := engine.New(fixed{snap}, pol, engine.Options{})
		res = &WhoResult{Route: route, At: at, Seq: seq, Policy: policyRef(v), Users: []Access{}}
		tenants := d.tenantNames()
		snap.EachUser(func(u *snapshot.User) {
			x := eng.ExplainRoute(engine.Principal{User: u.Key}, route)
			if x.Allow {
				res.Users = append(res.Users, access(x, u, tenants))
			}
		})
		slices.SortFunc(res.Users, func(a, b Access) int {
			return cmp.Or(strings.Compare(a.UserName, b.UserName), strings.Compare(a.Tenant, b.Tenant), strings.Compare(a.UserID, b.UserID))
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("who could reach %s: %w", route, err)
	}
	return res, nil
}

func access(x engine.Explanation, u *snapshot.User, tenants map[int64]string) Access {
	a := Access{Tenant: tenants[u.Tenant], TenantID: u.Tenant, UserID: u.ID, UserName: u.UserName, Reason: x.Reason, GroupPath: x.GroupPath}
	switch {
	case x.Reason == engine.ReasonPublic:
		a.Via = GrantPublic
	case x.Reason == engine.ReasonUserOK:
		a.Via = GrantUser
	default:
		a.Via = strings.Join(x.GroupPath, " -> ")
	}
	return a
}

func routeNames(p *policy.Policy) string {
	var names []string
	for _, r := range p.Routes {
		names = append(names, r.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// policyAt returns the policy version in force at t, compiled.
func policyAt(ctx context.Context, tx store.ReadTx, t time.Time) (store.PolicyVersion, *policy.Policy, error) {
	v, err := tx.PolicyVersionAt(ctx, t)
	if errors.Is(err, store.ErrNotFound) {
		first, err := tx.PolicyVersions(ctx, 0, 1)
		if err != nil {
			return v, nil, err
		}
		if len(first) == 0 {
			return v, nil, fmt.Errorf("%w: no policy version was ever recorded (scimgate serve records one when it starts)", ErrNoPolicy)
		}
		return v, nil, fmt.Errorf("%w at %s: the first policy version was loaded at %s", ErrNoPolicy,
			t.UTC().Format(time.RFC3339Nano), first[0].At.UTC().Format(time.RFC3339Nano))
	}
	if err != nil {
		return v, nil, err
	}
	p, err := compile(v)
	return v, p, err
}

// compile rebuilds the policy of a recorded version.
func compile(v store.PolicyVersion) (*policy.Policy, error) {
	var routes []config.Route
	if err := json.Unmarshal(v.Doc, &routes); err != nil {
		return nil, fmt.Errorf("policy version %d: %w", v.Seq, err)
	}
	p, err := policy.Compile(routes, v.Source, v.At)
	if err != nil {
		return nil, fmt.Errorf("policy version %d: %w", v.Seq, err)
	}
	return p, nil
}

// ruleNames returns the case-folded group and user names a route's rules
// use, whole and, for "tenant/name", the part after the tenant: the names
// whose groups and users bind to its rules.
func ruleNames(r *policy.Route) (groups, users []string) {
	add := func(list []string, refs ...[]policy.Ref) []string {
		for _, rs := range refs {
			for _, ref := range rs {
				list = append(list, ref.Name)
				if ref.Tenant != "" {
					list = append(list, ref.Short)
				}
			}
		}
		return list
	}
	return add(nil, r.AllowGroups, r.DenyGroups), add(nil, r.AllowUsers, r.DenyUsers)
}

// loadRouteSpans reads what a decision on route r after change seq can
// depend on: the tenants; the groups its rules name and every group
// nested in them, with their memberships; the users in those groups and
// the users its rules name (in every tenant, for the unique-name rule);
// every user when the route is public.
func loadRouteSpans(ctx context.Context, tx store.ReadTx, seq int64, r *policy.Route) (*dirSpans, error) {
	d := &dirSpans{}
	var err error
	if d.tenants, err = tx.TenantSpans(ctx); err != nil {
		return nil, err
	}
	if r.Public {
		d.users, err = tx.UserSpans(ctx, store.SpanFilter{At: seq})
		return d, err
	}
	groupNames, userNames := ruleNames(r)
	if len(groupNames) > 0 {
		if d.groups, err = tx.GroupSpans(ctx, store.SpanFilter{At: seq, NameKeys: groupNames}); err != nil {
			return nil, err
		}
	}
	seen := map[snapshot.Key]bool{}
	frontier := map[int64][]string{}
	for _, g := range d.groups {
		seen[snapshot.Key{Tenant: g.TenantID, ID: g.ID}] = true
		frontier[g.TenantID] = append(frontier[g.TenantID], g.ID)
	}
	members := map[int64][]string{}
	for len(frontier) > 0 {
		next := map[int64][]string{}
		for tenant, ids := range frontier {
			es, err := tx.EdgeSpans(ctx, store.EdgeFilter{At: seq, TenantID: tenant, Groups: ids})
			if err != nil {
				return nil, err
			}
			d.edges = append(d.edges, es...)
			var children []string
			for _, e := range es {
				k := snapshot.Key{Tenant: tenant, ID: e.Member}
				switch {
				case e.MemberType != store.TypeGroup:
					members[tenant] = append(members[tenant], e.Member)
				case !seen[k]:
					seen[k] = true
					children = append(children, e.Member)
				}
			}
			if len(children) > 0 {
				gs, err := tx.GroupSpans(ctx, store.SpanFilter{At: seq, TenantID: tenant, IDs: children})
				if err != nil {
					return nil, err
				}
				d.groups = append(d.groups, gs...)
				next[tenant] = children
			}
		}
		frontier = next
	}
	for tenant, ids := range members {
		us, err := tx.UserSpans(ctx, store.SpanFilter{At: seq, TenantID: tenant, IDs: ids})
		if err != nil {
			return nil, err
		}
		d.users = append(d.users, us...)
	}
	if len(userNames) > 0 {
		us, err := tx.UserSpans(ctx, store.SpanFilter{At: seq, NameKeys: userNames})
		if err != nil {
			return nil, err
		}
		d.users = append(d.users, us...)
	}
	return d, nil
}

// fixed is a snapshot source that never changes.
type fixed struct{ s *snapshot.Snapshot }

func (f fixed) Current() *snapshot.Snapshot { return f.s }
func (f fixed) Age() time.Duration          { return 0 }
