package engine

import (
	"slices"

	"github.com/scimgate/scimgate/snapshot"
)

// Explanation is a decision with the facts behind it.
type Explanation struct {
	Decision
	// GroupPath is, for group-ok and denied-group, the chain of group
	// names from one of the user's direct groups up to the group the rule
	// names, e.g. [platform-team engineering].
	GroupPath []string
	// Warnings are policy names that bind to nothing or to several tenants.
	Warnings []string
}

// Explain decides like Decide and says why. It allocates; use it for
// operators and audits, not on the request path.
func (e *Engine) Explain(p Principal, r Request) Explanation {
	return e.explain(e.Decide(p, r))
}

// ExplainRoute is Explain for a request that the route with that name
// took, whatever its host, path and method: audits ask about routes, not
// URLs. When the policy has no such route it decides as for no route.
func (e *Engine) ExplainRoute(p Principal, route string) Explanation {
	s := e.src.Current()
	b := e.bindingsFor(s)
	return e.explain(e.decide(s, b, p, b.policy.Route(route)))
}

func (e *Engine) explain(d Decision) Explanation {
	x := Explanation{Decision: d, Warnings: e.Warnings()}
	if d.Route == nil || d.User == nil {
		return x
	}
	b := e.bindingsFor(d.Snap)
	rb := &b.routes[d.Route.Index]
	switch d.Reason {
	case ReasonGroupOK:
		x.GroupPath = groupPath(d.Snap, d.User, rb.allowGroups)
	case ReasonDeniedGroup:
		x.GroupPath = groupPath(d.Snap, d.User, rb.denyGroups)
	}
	return x
}

// groupPath finds the shortest chain from one of the user's direct groups
// to a group in set.
func groupPath(s *snapshot.Snapshot, u *snapshot.User, set bitset) []string {
	type step struct {
		g    int32
		prev int // index into visited, -1 at a direct group
	}
	var visited []step
	seen := map[int32]bool{}
	for _, g := range u.Groups {
		if !seen[g] {
			seen[g] = true
			visited = append(visited, step{g, -1})
		}
	}
	for i := 0; i < len(visited); i++ {
		cur := visited[i]
		if set.has(cur.g) {
			var names []string
			for j := i; j >= 0; j = visited[j].prev {
				if grp := s.Group(visited[j].g); grp != nil {
					names = append(names, grp.Name)
				}
			}
			slices.Reverse(names)
			return names
		}
		if grp := s.Group(cur.g); grp != nil {
			for _, p := range grp.Parents {
				if !seen[p] {
					seen[p] = true
					visited = append(visited, step{p, i})
				}
			}
		}
	}
	return nil
}
