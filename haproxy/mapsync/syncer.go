// Package mapsync keeps HAProxy's maps current with scimgate's decisions,
// so that HAProxy can decide every request alone, with no call to scimgate
// ("map-sync mode"; the SPOE agent is the other HAProxy mode).
//
// A Syncer computes five maps from the engine (the policy and the live
// directory snapshot) and pushes them over HAProxy's runtime API: in full
// when it starts or loses track of HAProxy's state, as a difference on
// every directory or policy change, and again in full when a periodic
// read-back finds HAProxy's maps drifted (HAProxy restarted, someone
// edited a map). It also keeps the map files on disk current, so that a
// restarting HAProxy starts from recent data, and signs the session JWT
// cookie that HAProxy verifies with jwt_verify.
//
// Access is computed with engine.Decide, one decision per (route, active
// user), so deny rules, nested groups and inactive users mean exactly what
// they mean for every other adapter. examples/haproxy/mapsync/haproxy.cfg is
// the HAProxy side; it fails closed when the syncer stops (status.map).
package mapsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/haproxy/runtime"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/snapshot"
)

// Maps is the part of HAProxy's runtime API the syncer uses;
// *runtime.Client is one.
type Maps interface {
	MapEntries(ctx context.Context, name string) ([]runtime.Entry, error)
	SetEntry(ctx context.Context, name, key, value string) error
	DelEntry(ctx context.Context, name, key string) error
	Replace(ctx context.Context, name string, entries []runtime.Entry) error
}

// Decider is the decision core the maps are computed from; *engine.Engine
// is one.
type Decider interface {
	Decide(engine.Principal, engine.Request) engine.Decision
	Policy() *policy.Policy
	Snapshot() *snapshot.Snapshot
}

// Notifier signals directory changes; *snapshot.Live is one.
type Notifier interface {
	Subscribe() <-chan struct{}
}

// Metrics receives the syncer's outcomes; nil discards them.
type Metrics interface {
	// Synced reports a successful sync: kind "full", "diff" or "noop",
	// how many entries were written, how long it took.
	Synced(kind string, written int, took time.Duration)
	// SyncFailed reports a failed sync.
	SyncFailed(err error)
	// Drifted reports that HAProxy's map had other content than pushed.
	Drifted(mapFile string)
}

// Options configures a Syncer.
type Options struct {
	// Dir holds the map files and the JWT key; it must be absolute, and
	// haproxy.cfg must load the maps from it under these same paths.
	Dir string
	// DriftEvery is how often HAProxy's maps are read back and compared;
	// default 10s.
	DriftEvery time.Duration
	// MaxStale is how long HAProxy keeps deciding after the last
	// successful sync; past it, haproxy.cfg denies every request
	// (status.map). Default 30s; at least twice DriftEvery.
	MaxStale time.Duration
	// ReplaceAbove: a difference larger than this replaces the map
	// instead (one atomic commit rather than many commands); default 1000.
	ReplaceAbove int
	// RetryEvery is the pause after a failed sync; default 1s.
	RetryEvery time.Duration
	Metrics    Metrics
	Logger     *slog.Logger
	Now        func() time.Time
}

func (o *Options) defaults() error {
	if !filepath.IsAbs(o.Dir) {
		return fmt.Errorf("mapsync: dir %q must be an absolute path (HAProxy names maps by the path it loaded)", o.Dir)
	}
	if o.DriftEvery <= 0 {
		o.DriftEvery = 10 * time.Second
	}
	if o.MaxStale <= 0 {
		o.MaxStale = 30 * time.Second
	}
	if o.MaxStale < 2*o.DriftEvery {
		return fmt.Errorf("mapsync: max_stale %v must be at least twice drift_every %v (each read-back renews the deadline)", o.MaxStale, o.DriftEvery)
	}
	if o.ReplaceAbove <= 0 {
		o.ReplaceAbove = 1000
	}
	if o.RetryEvery <= 0 {
		o.RetryEvery = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Status is what the syncer has done, for metrics and health checks.
type Status struct {
	OK, Failed     int64          // syncs
	Drifts         int64          // read-backs that found a difference
	LastSuccess    time.Time      // zero before the first
	LastError      error          // of the last failed sync, nil once one succeeds
	FailingSince   time.Time      // first failure of the current run of failures
	Entries        map[string]int // per map file, as last pushed
	SkippedUsers   int            // active users whose id or userName no map can hold (denied)
	ShadowedRoutes []string       // routes no request reaches
}

// Syncer keeps HAProxy's maps current. Run drives it.
type Syncer struct {
	hx  Maps
	eng Decider
	src Notifier
	o   Options
	key *signingKey

	kick chan struct{}

	mu     sync.Mutex      // serialises syncs and guards what follows
	pushed *state          // what HAProxy has; nil: unknown, push in full
	absent map[string]bool // optional maps HAProxy does not load
	known  map[string]bool // session ids with a cookie minted
	files  map[string]string
	status Status
}

// New returns a syncer for HAProxy's runtime API hx. It loads or creates
// the JWT signing key in o.Dir and reads the session ids of
// o.Dir/sessions.map, so that cookies minted before a restart of scimgate
// stay valid.
func New(hx Maps, eng Decider, src Notifier, o Options) (*Syncer, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	key, err := loadKey(o.Dir)
	if err != nil {
		return nil, err
	}
	s := &Syncer{hx: hx, eng: eng, src: src, o: o, key: key, kick: make(chan struct{}, 1),
		known: map[string]bool{}, files: map[string]string{}}
	prev, err := readMapFile(filepath.Join(o.Dir, SessionsMap))
	if err != nil {
		return nil, err
	}
	for _, e := range prev {
		s.known[e.Key] = true
	}
	return s, nil
}

// Path returns the path of a map file, which is also its name in HAProxy.
func (s *Syncer) Path(mapFile string) string { return filepath.Join(s.o.Dir, mapFile) }

// Run syncs in full, then on every directory change, Resync and drift
// check, until ctx ends. Failures are retried every RetryEvery; Run returns
// only ctx's error.
func (s *Syncer) Run(ctx context.Context) error {
	changes := s.src.Subscribe()
	drift := time.NewTicker(s.o.DriftEvery)
	defer drift.Stop()
	var retry <-chan time.Time
	verify := false
	for {
		var err error
		if verify {
			err = s.Verify(ctx)
		} else {
			err = s.Sync(ctx)
		}
		retry = nil
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			retry = time.After(s.o.RetryEvery)
		}
		verify = false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changes:
		case <-s.kick:
		case <-retry:
		case <-drift.C:
			verify = true
		}
	}
}

// Resync asks Run to sync now, e.g. after engine.SetPolicy.
func (s *Syncer) Resync() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Sync computes the maps and pushes what changed since the last push (all
// of it when HAProxy's state is unknown), then rewrites the changed files.
func (s *Syncer) Sync(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncLocked(ctx)
}

// Verify reads HAProxy's maps back, replaces every map whose content is
// not what was pushed, then syncs.
func (s *Syncer) Verify(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pushed != nil {
		for _, m := range append([]string{RoutesMap}, mapFiles...) {
			got, err := s.hx.MapEntries(ctx, s.Path(m))
			if s.optionalAbsent(m, err) {
				continue
			}
			if err != nil {
				s.fail(ctx, fmt.Errorf("read back %s: %w", m, err))
				return err
			}
			if s.absent[m] {
				// haproxy.cfg loads it now (HAProxy restarted on a new
				// configuration): fill it.
				delete(s.absent, m)
				s.o.Logger.Info("haproxy loads an optional map now", "map", m)
			}
			if sameEntries(m, got, s.pushed) {
				continue
			}
			s.status.Drifts++
			if s.o.Metrics != nil {
				s.o.Metrics.Drifted(m)
			}
			s.o.Logger.Warn("haproxy map drifted; replacing it", "map", m, "entries_haproxy", len(got), "entries_want", len(s.pushed.entries(m)))
			if err := s.hx.Replace(ctx, s.Path(m), s.pushed.entries(m)); err != nil {
				s.fail(ctx, fmt.Errorf("replace drifted %s: %w", m, err))
				return err
			}
		}
	}
	return s.syncLocked(ctx)
}

func (s *Syncer) syncLocked(ctx context.Context) error {
	start := s.o.Now()
	liveSessions(s.eng.Snapshot(), s.known, start)
	var (
		want  *state
		stats computeStats
		err   error
	)
	for range 3 {
		want, stats, err = compute(s.eng, s.known, start, start.Add(s.o.MaxStale))
		if !errors.Is(err, errRetry) {
			break
		}
	}
	if err != nil {
		s.fail(ctx, fmt.Errorf("compute maps: %w", err))
		return err
	}
	if stats.SkippedUsers != s.status.SkippedUsers || !slices.Equal(stats.ShadowedRoutes, s.status.ShadowedRoutes) {
		if stats.SkippedUsers > 0 {
			s.o.Logger.Warn("users left out of the maps (denied): id or userName has whitespace or control characters, or the userName is too long",
				"skipped_users", stats.SkippedUsers, "max_username_bytes", MaxValue)
		}
		if len(stats.ShadowedRoutes) > 0 {
			s.o.Logger.Warn("routes no request can reach", "routes", stats.ShadowedRoutes)
		}
	}
	s.status.SkippedUsers, s.status.ShadowedRoutes = stats.SkippedUsers, stats.ShadowedRoutes

	kind, written, err := s.push(ctx, want)
	if err != nil {
		s.pushed = nil // HAProxy's state is unknown now: next time, in full
		s.fail(ctx, err)
		return err
	}
	s.pushed = want
	took := s.o.Now().Sub(start)
	s.status.OK++
	s.status.LastSuccess = start
	s.status.LastError = nil
	s.status.FailingSince = time.Time{}
	s.status.Entries = want.counts()
	if s.o.Metrics != nil {
		s.o.Metrics.Synced(kind, written, took)
	}
	if kind != "noop" {
		s.o.Logger.Debug("haproxy maps synced", "kind", kind, "written", written, "took", took)
	}
	if err := s.writeFiles(want); err != nil {
		// HAProxy has the data; only a restart would start from older
		// files, and the next read-back repairs that.
		s.o.Logger.Error("write map files", "err", err)
	}
	return nil
}

func (s *Syncer) fail(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // stopping, not failing
	}
	s.status.Failed++
	s.status.LastError = err
	if s.status.FailingSince.IsZero() {
		s.status.FailingSince = s.o.Now()
	}
	if s.o.Metrics != nil {
		s.o.Metrics.SyncFailed(err)
	}
	s.o.Logger.Error("haproxy map sync failed", "err", err)
}

// push brings HAProxy from s.pushed to want: deletions first (revoking
// access never waits for a grant), then the routes, then additions; status
// last, so that the deadline moves only once the rest is in.
//
// access.map names routes, which routes.map defines: while one is new and
// the other old, a request could meet a grant that neither policy makes
// (a route moved to another path, the old route's users on the new path).
// So access.map only holds grants both states make while routes.map
// changes: its deletions come first, and a replaced access.map is first
// replaced by what old and new share. When what HAProxy holds is not
// known (the first push, or after a failure) and its routes differ,
// access.map is emptied first: everything is refused for the moment the
// push takes.
func (s *Syncer) push(ctx context.Context, want *state) (kind string, written int, err error) {
	if s.pushed == nil {
		if got, err := s.hx.MapEntries(ctx, s.Path(RoutesMap)); err != nil || !slices.Equal(got, want.routes) {
			if err := s.hx.Replace(ctx, s.Path(AccessMap), nil); err != nil {
				return "", 0, fmt.Errorf("empty %s before the routes change: %w", AccessMap, err)
			}
		}
		for _, m := range append([]string{RoutesMap}, mapFiles...) {
			es := want.entries(m)
			err := s.hx.Replace(ctx, s.Path(m), es)
			if s.optionalAbsent(m, err) {
				continue
			}
			if err != nil {
				return "", 0, fmt.Errorf("replace %s: %w", m, err)
			}
			delete(s.absent, m)
			written += len(es)
		}
		return "full", written, nil
	}
	type change struct{ key, value string }
	dels := map[string][]string{}
	sets := map[string][]change{}
	replace := map[string]bool{}
	for _, m := range mapFiles {
		if s.absent[m] {
			continue
		}
		old, cur := s.pushed.kv[m], want.kv[m]
		for k := range old {
			if _, ok := cur[k]; !ok {
				dels[m] = append(dels[m], k)
			}
		}
		for k, v := range cur {
			if ov, ok := old[k]; !ok || ov != v {
				sets[m] = append(sets[m], change{k, v})
			}
		}
		if len(dels[m])+len(sets[m]) > s.o.ReplaceAbove {
			replace[m] = true
		}
	}
	kind = "noop"
	for i := len(mapFiles) - 1; i >= 0; i-- {
		m := mapFiles[i]
		if replace[m] {
			continue
		}
		for _, k := range dels[m] {
			if err := s.hx.DelEntry(ctx, s.Path(m), k); err != nil {
				return "", written, fmt.Errorf("delete from %s: %w", m, err)
			}
			written++
			kind = "diff"
		}
	}
	if !slices.Equal(s.pushed.routes, want.routes) {
		if replace[AccessMap] {
			shared := sharedEntries(s.pushed.kv[AccessMap], want.kv[AccessMap])
			if err := s.hx.Replace(ctx, s.Path(AccessMap), shared); err != nil {
				return "", written, fmt.Errorf("replace %s with the grants both states make: %w", AccessMap, err)
			}
			written += len(shared)
		}
		if err := s.hx.Replace(ctx, s.Path(RoutesMap), want.routes); err != nil {
			return "", written, fmt.Errorf("replace %s: %w", RoutesMap, err)
		}
		written += len(want.routes)
		kind = "diff"
	}
	for _, m := range mapFiles {
		if replace[m] {
			es := want.entries(m)
			if err := s.hx.Replace(ctx, s.Path(m), es); err != nil {
				return "", written, fmt.Errorf("replace %s: %w", m, err)
			}
			written += len(es)
			kind = "diff"
			continue
		}
		for _, c := range sets[m] {
			if err := s.hx.SetEntry(ctx, s.Path(m), c.key, c.value); err != nil {
				return "", written, fmt.Errorf("set in %s: %w", m, err)
			}
			written++
			if m != StatusMap {
				kind = "diff"
			}
		}
	}
	return kind, written, nil
}

// optionalMaps may be missing from haproxy.cfg: without tokens.map,
// HAProxy refuses access tokens and everything else works.
var optionalMaps = map[string]bool{TokensMap: true}

// optionalAbsent reports whether err says that HAProxy does not load map m
// and m is optional; it then remembers m as absent, and warns once.
func (s *Syncer) optionalAbsent(m string, err error) bool {
	if !optionalMaps[m] || !errors.Is(err, runtime.ErrUnknownMap) {
		return false
	}
	if !s.absent[m] {
		if s.absent == nil {
			s.absent = map[string]bool{}
		}
		s.absent[m] = true
		s.o.Logger.Warn("haproxy.cfg does not load an optional map; what it would admit is refused", "map", m, "path", s.Path(m))
	}
	return true
}

// sharedEntries returns the entries a and b both hold, sorted by key.
func sharedEntries(a, b map[string]string) []runtime.Entry {
	var out []runtime.Entry
	for k, v := range a {
		if bv, ok := b[k]; ok && bv == v {
			out = append(out, runtime.Entry{Key: k, Value: v})
		}
	}
	slices.SortFunc(out, func(x, y runtime.Entry) int { return strings.Compare(x.Key, y.Key) })
	return out
}

// sameEntries compares what HAProxy has in map m with what was pushed:
// routes in order, the others as sets of distinct keys.
func sameEntries(m string, got []runtime.Entry, pushed *state) bool {
	if m == RoutesMap {
		return slices.Equal(got, pushed.routes)
	}
	want := pushed.kv[m]
	if len(got) != len(want) {
		return false
	}
	seen := make(map[string]bool, len(got))
	for _, e := range got {
		if v, ok := want[e.Key]; !ok || v != e.Value || seen[e.Key] {
			return false
		}
		seen[e.Key] = true
	}
	return true
}

// Status returns a copy of the syncer's status.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Entries = maps.Clone(s.status.Entries)
	st.ShadowedRoutes = slices.Clone(s.status.ShadowedRoutes)
	return st
}

// Healthy returns nil when the last successful sync is at most maxAge old
// (HAProxy then decides on current data), and why not otherwise.
func (s *Syncer) Healthy(maxAge time.Duration) error {
	st := s.Status()
	switch {
	case st.LastSuccess.IsZero():
		return fmt.Errorf("haproxy maps never synced: %v", st.LastError)
	case s.o.Now().Sub(st.LastSuccess) > maxAge:
		return fmt.Errorf("haproxy maps last synced %v ago: %v", s.o.Now().Sub(st.LastSuccess).Round(time.Millisecond), st.LastError)
	}
	return nil
}
