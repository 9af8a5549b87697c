package mapsync

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	hxruntime "github.com/scimgate/scimgate/haproxy/runtime"
	"github.com/scimgate/scimgate/internal/gatetest"
)

// probedMaps runs check after every write to HAProxy's maps.
type probedMaps struct {
	Maps
	check func(op string)
}

func (p *probedMaps) SetEntry(ctx context.Context, name, key, value string) error {
	err := p.Maps.SetEntry(ctx, name, key, value)
	p.check("set " + name)
	return err
}

func (p *probedMaps) DelEntry(ctx context.Context, name, key string) error {
	err := p.Maps.DelEntry(ctx, name, key)
	p.check("del " + name)
	return err
}

func (p *probedMaps) Replace(ctx context.Context, name string, es []hxruntime.Entry) error {
	err := p.Maps.Replace(ctx, name, es)
	p.check(fmt.Sprintf("replace %s (%d)", name, len(es)))
	return err
}

// TestRouteMoveNeverMixesGrants: a policy change that moves a route to
// another path and other users reaches HAProxy so that at no moment does
// a request meet the new routes with the old grants, or the reverse: the
// old route's users never reach the new path, the new route's users never
// the old one. Checked through real HAProxy after every write, for a
// small difference, one large enough to replace access.map, and a first
// push (HAProxy's state unknown).
func TestRouteMoveNeverMixesGrants(t *testing.T) {
	for _, tc := range []struct {
		name         string
		replaceAbove int
		firstPush    bool
	}{
		{"entry by entry", 1000, false},
		{"access.map replaced", 1, false},
		{"first push", 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStack(t, `
routes:
  - {name: app, host: app.test, path: /staging, allow: {groups: [staff]}}
`, Options{ReplaceAbove: tc.replaceAbove})
			f := st.f
			f.User("bob")
			f.User("carol")
			f.Group("staff", "bob")
			f.Group("prod-admins", "carol")
			_, bob := st.session(t, "bob")
			_, carol := st.session(t, "carol")
			addr := st.h.Addr()
			waitFor(t, 5*time.Second, "bob on staging", func() bool {
				return do(t, addr, "GET", "app.test", "/staging/x", cookie(bob)...).status == 200
			})
			st.halt()

			var mu sync.Mutex
			var mixed []string
			st.s.hx = &probedMaps{Maps: st.s.hx, check: func(op string) {
				if r := do(t, addr, "GET", "app.test", "/prod/x", cookie(bob)...); r.status == 200 {
					mu.Lock()
					mixed = append(mixed, "after "+op+": bob (staff) reached /prod")
					mu.Unlock()
				}
				if r := do(t, addr, "GET", "app.test", "/staging/x", cookie(carol)...); r.status == 200 {
					mu.Lock()
					mixed = append(mixed, "after "+op+": carol (prod-admins) reached /staging")
					mu.Unlock()
				}
			}}
			f.Eng.SetPolicy(gatetest.Compile(t, `
routes:
  - {name: app, host: app.test, path: /prod, allow: {groups: [prod-admins]}}
`))
			if tc.firstPush {
				st.s.mu.Lock()
				st.s.pushed = nil
				st.s.mu.Unlock()
			}
			if err := st.s.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			for _, m := range mixed {
				t.Error(m)
			}
			if r := do(t, addr, "GET", "app.test", "/prod/x", cookie(carol)...); r.status != 200 {
				t.Errorf("carol on /prod after the push: %d", r.status)
			}
			if r := do(t, addr, "GET", "app.test", "/staging/x", cookie(bob)...); r.status == 200 {
				t.Errorf("bob on /staging after the push: %d", r.status)
			}
		})
	}
}
