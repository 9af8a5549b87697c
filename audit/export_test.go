package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

var exT0 = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

// exportStore opens a store on path holding changes, policy versions and
// decisions, n of each, appended a minute apart.
func exportStore(t testing.TB, path string, n int) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	exAppend(t, st, 0, n)
	return st
}

// exAppend appends records from..to-1 of each stream.
func exAppend(t testing.TB, st store.Store, from, to int) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < to; i++ {
		at := exT0.Add(time.Duration(i) * time.Minute)
		err := st.Update(ctx, func(tx store.Tx) error {
			c := &store.Change{TenantID: 1, At: at, Actor: "okta", ResourceType: store.TypeUser, ResourceID: fmt.Sprintf("u%d", i),
				Op: store.OpCreate, After: fmt.Appendf(nil, `{"userName":"user%d@example.com"}`, i)}
			if err := tx.AppendChange(ctx, c); err != nil {
				return err
			}
			v := &store.PolicyVersion{At: at, Source: "/etc/scimgate.yaml", Digest: fmt.Sprintf("d%d", i), Doc: fmt.Appendf(nil, `[{"name":"app%d"}]`, i)}
			if err := tx.AppendPolicyVersion(ctx, v); err != nil {
				return err
			}
			return tx.AppendDecisions(ctx, []store.Decision{{At: at, TenantID: 1, UserID: "u1", UserName: "user1@example.com", Route: "app",
				Method: "GET", Host: "app.example.com", Path: fmt.Sprintf("/app/%d", i), Allow: i%3 != 0, Reason: "group-ok",
				Adapter: "proxy", Remote: "192.0.2.7:4444"}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// exKey identifies a record, as receivers deduplicate.
type exKey struct {
	Stream string
	Seq    int64
}

// exReceiver is a webhook endpoint that records every line of the batches
// it accepts.
type exReceiver struct {
	mu       sync.Mutex
	attempts int
	got      []audit.Entry
	auth     []string
	// answer decides the status of attempt n (from 1); nil: 200. It may
	// block.
	answer func(n int, batch []audit.Entry) int
	srv    *httptest.Server
}

func newExReceiver(t testing.TB, answer func(n int, batch []audit.Entry) int) *exReceiver {
	r := &exReceiver{answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-ndjson" {
			http.Error(w, "want a POST of application/x-ndjson", http.StatusBadRequest)
			return
		}
		var batch []audit.Entry
		sc := bufio.NewScanner(req.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e audit.Entry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Errorf("webhook line %q: %v", sc.Text(), err)
			}
			batch = append(batch, e)
		}
		r.mu.Lock()
		r.attempts++
		n := r.attempts
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		r.mu.Unlock()
		status := http.StatusOK
		if r.answer != nil {
			status = r.answer(n, batch)
		}
		if status/100 == 2 {
			r.mu.Lock()
			r.got = append(r.got, batch...)
			r.mu.Unlock()
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *exReceiver) entries() []audit.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// exWaitFor polls cond until it holds, or fails the test after d.
func exWaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// exDistinct returns the records of es by key, and how many came twice.
func exDistinct(es []audit.Entry) (map[exKey]audit.Entry, int) {
	m := map[exKey]audit.Entry{}
	dups := 0
	for _, e := range es {
		k := exKey{e.Stream, e.Seq}
		if _, ok := m[k]; ok {
			dups++
		}
		m[k] = e
	}
	return m, dups
}

// exStored returns every record of st as the log shows it.
func exStored(t testing.TB, st audit.Viewer) map[exKey]audit.Entry {
	t.Helper()
	m := map[exKey]audit.Entry{}
	err := audit.Log(context.Background(), st, audit.Filter{}, func(e audit.Entry) error {
		m[exKey{e.Stream, e.Seq}] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// exCheckOrder fails unless each stream's records come in sequence order
// within es, each delivery after the other.
func exCheckOrder(t testing.TB, es []audit.Entry) {
	t.Helper()
	last := map[string]int64{}
	for _, e := range es {
		if e.Seq <= last[e.Stream] {
			t.Errorf("%s seq %d delivered after seq %d", e.Stream, e.Seq, last[e.Stream])
		}
		last[e.Stream] = e.Seq
	}
}

// exSameJSON compares entries by their JSON encoding.
func exSameJSON(t testing.TB, want, got map[exKey]audit.Entry) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%d records delivered, want %d", len(got), len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%v not delivered", k)
			continue
		}
		wj, _ := json.Marshal(w)
		gj, _ := json.Marshal(g)
		if !bytes.Equal(wj, gj) {
			t.Errorf("%v delivered as\n%s\nwant (as audit log --json)\n%s", k, gj, wj)
		}
	}
}

// exportCounts is an audit.ExportMetrics.
type exportCounts struct {
	mu       sync.Mutex
	exported int
	failed   int
	lag      int64
	lagAge   time.Duration
}

func (c *exportCounts) Exported(_ string, n int) { c.mu.Lock(); c.exported += n; c.mu.Unlock() }
func (c *exportCounts) Failed(string)            { c.mu.Lock(); c.failed++; c.mu.Unlock() }
func (c *exportCounts) Lag(_ string, n int64, age time.Duration) {
	c.mu.Lock()
	c.lag, c.lagAge = n, age
	c.mu.Unlock()
}

func (c *exportCounts) get() (exported, failed int, lag int64, age time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exported, c.failed, c.lag, c.lagAge
}

// runExporter runs an exporter until the returned stop is called.
func runExporter(t testing.TB, st audit.ExportStore, opts audit.ExportOptions) (stop func()) {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "siem"
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 10 * time.Millisecond
	}
	if opts.RetryMin == 0 {
		opts.RetryMin, opts.RetryMax = 5*time.Millisecond, 20*time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		audit.NewExporter(st, opts).Run(ctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

func exWebhook(t testing.TB, url string) audit.Sink {
	t.Helper()
	s, err := audit.NewWebhookSink(audit.WebhookOptions{URL: url, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestExportWebhookRetries: a webhook that fails its first attempts gets
// every record once the failures stop — none lost, none twice, each
// stream in order — and the exporter follows records appended later.
func TestExportWebhookRetries(t *testing.T) {
	st := exportStore(t, filepath.Join(t.TempDir(), "db"), 9)
	const failures = 4
	r := newExReceiver(t, func(n int, _ []audit.Entry) int {
		if n <= failures {
			return []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusTooManyRequests, http.StatusBadRequest}[n-1]
		}
		return http.StatusAccepted
	})
	m := &exportCounts{}
	runExporter(t, st, audit.ExportOptions{Sink: exWebhook(t, r.srv.URL), BatchSize: 4, Metrics: m})
	exWaitFor(t, 10*time.Second, "27 records", func() bool { return len(r.entries()) >= 27 })
	exAppend(t, st, 9, 12)
	exWaitFor(t, 10*time.Second, "36 records", func() bool { return len(r.entries()) >= 36 })
	exWaitFor(t, 10*time.Second, "no lag", func() bool { _, _, lag, _ := m.get(); return lag == 0 })

	got := r.entries()
	byKey, dups := exDistinct(got)
	if dups > 0 {
		t.Errorf("%d records delivered twice without a restart", dups)
	}
	exCheckOrder(t, got)
	exSameJSON(t, exStored(t, st), byKey)
	exported, failed, _, age := m.get()
	if exported != 36 || failed != failures || age != 0 {
		t.Errorf("metrics: exported %d, failed %d, lag age %s; want 36, %d, 0", exported, failed, age, failures)
	}
	// 3 streams: batches of 4, 4 and 1 of the first 9, and at least one
	// of the 3 appended later (more when a poll sees them half appended).
	if r.attempts < failures+12 {
		t.Errorf("%d attempts, want at least %d", r.attempts, failures+12)
	}
}

// TestExportCrashResends: when the exporter stops after the webhook took
// a batch but before it saved its cursor (a crash), the next run sends
// that batch again — only that one: delivery is at least once, with
// duplicates only across a restart.
func TestExportCrashResends(t *testing.T) {
	st := exportStore(t, filepath.Join(t.TempDir(), "db"), 10)
	var crash func()
	var crashed []audit.Entry
	var once sync.Once
	r := newExReceiver(t, func(n int, batch []audit.Entry) int {
		if n == 3 {
			once.Do(func() {
				crashed = batch
				crash() // stops the exporter before it hears back
			})
		}
		return http.StatusOK
	})
	sink := exWebhook(t, r.srv.URL)
	crash = runExporter(t, st, audit.ExportOptions{Sink: sink, BatchSize: 3, Streams: []string{store.StreamDecisions, store.StreamChanges}})
	exWaitFor(t, 10*time.Second, "the crash", func() bool { return len(r.entries()) >= 9 })
	crash()
	before := len(r.entries())
	runExporter(t, st, audit.ExportOptions{Sink: sink, BatchSize: 3, Streams: []string{store.StreamDecisions, store.StreamChanges}})
	exWaitFor(t, 10*time.Second, "20 distinct records", func() bool { m, _ := exDistinct(r.entries()); return len(m) == 20 })

	got := r.entries()
	byKey, dups := exDistinct(got)
	if len(crashed) == 0 || dups != len(crashed) {
		t.Errorf("%d duplicates, want the %d records of the batch in flight at the crash", dups, len(crashed))
	}
	seen := map[exKey]int{}
	for _, e := range got {
		seen[exKey{e.Stream, e.Seq}]++
	}
	for _, e := range crashed {
		if seen[exKey{e.Stream, e.Seq}] != 2 {
			t.Errorf("%s seq %d of the crashed batch delivered %d times, want 2", e.Stream, e.Seq, seen[exKey{e.Stream, e.Seq}])
		}
	}
	exCheckOrder(t, got[:before])
	exCheckOrder(t, got[before:])
	want := exStored(t, st)
	for k := range want {
		if k.Stream == store.StreamPolicies {
			delete(want, k)
		}
	}
	exSameJSON(t, want, byKey)
}

// TestExportRestartResumes: a sink stopped cleanly resumes after its
// cursor, sending nothing twice; a new sink that starts now skips what
// is already stored.
func TestExportRestartResumes(t *testing.T) {
	st := exportStore(t, filepath.Join(t.TempDir(), "db"), 5)
	r := newExReceiver(t, nil)
	sink := exWebhook(t, r.srv.URL)
	stop := runExporter(t, st, audit.ExportOptions{Sink: sink})
	exWaitFor(t, 10*time.Second, "15 records", func() bool { return len(r.entries()) == 15 })
	// Stopping while the last batch's answer is on its way would send it
	// again (at least once): stop once the deliveries are recorded.
	exWaitFor(t, 10*time.Second, "the cursors at the last records", func() bool {
		n := 0
		_ = st.View(context.Background(), func(tx store.ReadTx) error {
			for _, s := range audit.Streams {
				if seq, err := tx.ExportCursor(context.Background(), "siem", s); err == nil && seq == 5 {
					n++
				}
			}
			return nil
		})
		return n == 3
	})
	stop()

	late := newExReceiver(t, nil)
	stopLate := runExporter(t, st, audit.ExportOptions{Name: "late", Sink: exWebhook(t, late.srv.URL), StartNow: true})
	// Its cursors are saved at the end of each stream before it reads:
	// wait for them, so that what is appended next is after them.
	exWaitFor(t, 10*time.Second, "the late sink's cursors", func() bool {
		n := 0
		_ = st.View(context.Background(), func(tx store.ReadTx) error {
			for _, s := range audit.Streams {
				if _, err := tx.ExportCursor(context.Background(), "late", s); err == nil {
					n++
				}
			}
			return nil
		})
		return n == 3
	})
	exAppend(t, st, 5, 8)
	runExporter(t, st, audit.ExportOptions{Sink: sink})
	exWaitFor(t, 10*time.Second, "24 records", func() bool { return len(r.entries()) >= 24 })
	exWaitFor(t, 10*time.Second, "9 records at the late sink", func() bool { return len(late.entries()) >= 9 })
	stopLate()

	got, dups := exDistinct(r.entries())
	if dups != 0 || len(got) != 24 {
		t.Errorf("after a restart: %d records, %d twice; want 24, none twice", len(got), dups)
	}
	exCheckOrder(t, r.entries())
	for _, e := range late.entries() {
		if e.Seq <= 5 {
			t.Errorf("sink started now got %s seq %d, stored before it started", e.Stream, e.Seq)
		}
	}
}

// TestExportHangingWebhook: a webhook that never answers holds its sink
// back — the lag grows, the failures are counted — while decisions are
// still recorded at full speed: Record never waits for the export.
func TestExportHangingWebhook(t *testing.T) {
	st := exportStore(t, filepath.Join(t.TempDir(), "db"), 3)
	release := make(chan struct{})
	r := newExReceiver(t, func(int, []audit.Entry) int {
		<-release
		return http.StatusOK
	})
	defer close(release)
	// A Record that waited for the export would take the whole Timeout.
	sink, err := audit.NewWebhookSink(audit.WebhookOptions{URL: r.srv.URL, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m := &exportCounts{}
	runExporter(t, st, audit.ExportOptions{Sink: sink, Metrics: m})
	rec := audit.NewRecorder(st, audit.RecorderOptions{FlushInterval: time.Millisecond})
	const n = 2000
	var slowest time.Duration
	for range n {
		start := time.Now()
		rec.Record("proxy", "192.0.2.1:1", engine.Principal{}, engine.Request{Method: "GET", Host: "app.example.com", Path: "/x"},
			engine.Decision{Reason: engine.ReasonNoRoute})
		slowest = max(slowest, time.Since(start))
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if slowest > 500*time.Millisecond {
		t.Errorf("slowest Record took %s with the webhook hanging", slowest)
	}
	var count int
	if err := st.View(context.Background(), func(tx store.ReadTx) error {
		ds, err := tx.Decisions(context.Background(), 0, 10*n)
		count = len(ds)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if count != 3+n {
		t.Errorf("%d decisions stored, want %d: the hanging sink must not cost decisions", count, 3+n)
	}
	exWaitFor(t, 10*time.Second, "two failed attempts", func() bool { _, failed, _, _ := m.get(); return failed >= 2 })
	exWaitFor(t, 10*time.Second, "the lag", func() bool { _, _, lag, age := m.get(); return lag >= 3+3+3+n && age > time.Hour })
	if got := len(r.entries()); got != 0 {
		t.Errorf("%d records delivered by a webhook that never answered", got)
	}
}

// TestExportWebhookRedirect: a redirect is an error that names where it
// points, not a delivery: followed, it would resend as a GET without the
// batch, and the secret header to another host.
func TestExportWebhookRedirect(t *testing.T) {
	var mu sync.Mutex
	var hits []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, r.Method+" "+r.Header.Get("X-Api-Key"))
		mu.Unlock()
	}))
	defer target.Close()
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/ingest", code)
		}))
		secret := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(secret, []byte("k1"), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := audit.NewWebhookSink(audit.WebhookOptions{URL: srv.URL, SecretFile: secret, SecretHeader: "X-Api-Key"})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(context.Background(), []audit.ExportRecord{{Line: []byte(`{}`)}})
		if err == nil || !strings.Contains(err.Error(), target.URL+"/ingest") {
			t.Errorf("%d: Send = %v, want an error naming the redirect's target", code, err)
		}
		s.Close()
		srv.Close()
	}
	if len(hits) != 0 {
		t.Errorf("the redirect's target was reached: %v", hits)
	}
}

// TestExportWebhookSecret: the secret file's content goes in the header
// named, as a bearer token in Authorization; it is read for every batch,
// so that it can be rotated in place.
func TestExportWebhookSecret(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if _, err := audit.NewWebhookSink(audit.WebhookOptions{URL: "http://127.0.0.1:1/", SecretFile: secret}); err == nil {
		t.Error("NewWebhookSink with a missing secret file = nil error")
	}
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization")+"|"+r.Header.Get("X-Api-Key"))
		mu.Unlock()
	}))
	defer srv.Close()
	rec := []audit.ExportRecord{{Line: []byte(`{}`)}}
	for _, tt := range []struct{ header, content, want string }{
		{"", "s3cret\n", "Bearer s3cret|"},
		{"authorization", "rotated", "Bearer rotated|"},
		{"X-Api-Key", "k1", "|k1"},
	} {
		if err := os.WriteFile(secret, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := audit.NewWebhookSink(audit.WebhookOptions{URL: srv.URL, SecretFile: secret, SecretHeader: tt.header})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if got := seen[len(seen)-1]; got != tt.want {
			t.Errorf("header %q, secret %q: sent %q, want %q", tt.header, tt.content, got, tt.want)
		}
		mu.Unlock()
		s.Close()
	}
	if err := os.WriteFile(secret, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.NewWebhookSink(audit.WebhookOptions{URL: srv.URL, SecretFile: secret}); err == nil {
		t.Error("NewWebhookSink with an empty secret file = nil error")
	}
	s, _ := audit.NewWebhookSink(audit.WebhookOptions{URL: srv.URL})
	if err := s.Send(context.Background(), rec); err != nil {
		t.Errorf("Send without a secret: %v", err)
	}
	// A collector's token in the query never reaches the logs through an
	// error.
	s, _ = audit.NewWebhookSink(audit.WebhookOptions{URL: "http://127.0.0.1:1/ingest?token=HEC-SECRET"})
	if err := s.Send(context.Background(), rec); err == nil || strings.Contains(err.Error(), "HEC-SECRET") || !strings.Contains(err.Error(), "/ingest?REDACTED") {
		t.Errorf("Send to a closed port: %v; want an error without the query", err)
	}
}

// exFailingUpdates is a store whose Updates fail while fail is set.
type exFailingUpdates struct {
	*sqlite.Store
	mu   sync.Mutex
	fail bool
}

func (f *exFailingUpdates) Update(ctx context.Context, fn func(store.Tx) error) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	return f.Store.Update(ctx, fn)
}

func (f *exFailingUpdates) set(fail bool) { f.mu.Lock(); f.fail = fail; f.mu.Unlock() }

// TestExportCursorWriteFails: when the cursor cannot be saved after a
// delivery, the records are not sent again while the exporter runs, and
// the cursor is saved once the store takes writes again.
func TestExportCursorWriteFails(t *testing.T) {
	st := &exFailingUpdates{Store: exportStore(t, filepath.Join(t.TempDir(), "db"), 4)}
	r := newExReceiver(t, nil)
	m := &exportCounts{}
	// The cursors of a new sink starting at the beginning need no write.
	st.set(true)
	runExporter(t, st, audit.ExportOptions{Sink: exWebhook(t, r.srv.URL), Streams: []string{store.StreamDecisions}, Metrics: m})
	exWaitFor(t, 10*time.Second, "4 records", func() bool { return len(r.entries()) >= 4 })
	exWaitFor(t, 10*time.Second, "failures", func() bool { _, failed, _, _ := m.get(); return failed >= 3 })
	st.set(false)
	exWaitFor(t, 10*time.Second, "the cursor saved", func() bool {
		var seq int64
		_ = st.View(context.Background(), func(tx store.ReadTx) (err error) {
			seq, err = tx.ExportCursor(context.Background(), "siem", store.StreamDecisions)
			return err
		})
		return seq == 4
	})
	if _, dups := exDistinct(r.entries()); dups != 0 || len(r.entries()) != 4 {
		t.Errorf("%d records delivered, %d twice; want 4, none twice", len(r.entries()), dups)
	}
}

// batchSizes is a sink that records the size of each batch it gets.
type batchSizes struct {
	mu    sync.Mutex
	sizes []int
}

func (b *batchSizes) Send(_ context.Context, recs []audit.ExportRecord) error {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(recs))
	b.mu.Unlock()
	return nil
}

func (b *batchSizes) Close() error { return nil }

// TestExportLargeDocumentsBatched: changes carrying megabytes each are
// sent in batches of about 8 MiB, not BatchSize of them at once, and the
// exporter goes straight on to the next batch.
func TestExportLargeDocumentsBatched(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	big := `{"nickName":"` + strings.Repeat("x", 1<<20) + `"}`
	for i := range 40 {
		err := st.Update(context.Background(), func(tx store.Tx) error {
			return tx.AppendChange(context.Background(), &store.Change{TenantID: 1, At: exT0, Actor: "okta",
				ResourceType: store.TypeUser, ResourceID: fmt.Sprint("u", i), Op: store.OpReplace, Before: []byte(big), After: []byte(big)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sink := &batchSizes{}
	x := audit.NewExporter(st, audit.ExportOptions{Name: "siem", Sink: sink, Streams: []string{store.StreamChanges}, BatchSize: 500})
	steps := 0
	for more := true; more; steps++ {
		if more, err = x.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for _, n := range sink.sizes {
		total += n
		if n > 8 {
			t.Errorf("a batch of %d changes of 2 MiB each; want one read page (8) once past 8 MiB", n)
		}
	}
	if total != 40 || steps > len(sink.sizes)+1 {
		t.Errorf("sent %d changes in batches %v over %d steps; want 40, one batch a step", total, sink.sizes, steps)
	}
}
