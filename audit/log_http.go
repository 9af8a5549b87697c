package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultHTTPLimit is how many entries GET /audit/log returns without a
// limit parameter.
const DefaultHTTPLimit = 10_000

// MaxHTTPLimit caps limit: one request holds a read transaction (and one
// of the store's few read connections) while it streams; longer answers
// are paged with since.
const MaxHTTPLimit = 100_000

// MaxHTTPQueries is how many GET /audit/log and /audit/verify requests run
// at once; more are refused with 503. Each holds one of the store's few
// read connections, which the gateway's snapshot and SCIM reads need too.
const MaxHTTPQueries = 2

// A streamed answer ends when its client has not taken a write for
// httpStallTimeout, or after httpMaxDuration in all: a client that stops
// reading would otherwise hold its read transaction for as long as it
// keeps the connection open.
var (
	httpStallTimeout = 30 * time.Second
	httpMaxDuration  = 10 * time.Minute
)

// Handler serves the audit trail on the admin listener:
//
//	GET /audit/log?since=&until=&user=&route=&limit=   JSON lines, as `scimgate audit log --json`
//	GET /audit/verify?head=stream:SEQ:HEX&index=true   the Report as JSON; 409 when it found problems
//
// index=true also rebuilds the temporal index that /access/* reads and
// compares it (VerifyIndex), as `audit verify --index` does.
//
// since and until take what `audit log` takes (ParseTime). At most
// MaxHTTPQueries run at once; a log answer cut off (its client stalled,
// httpMaxDuration, a read error) ends without its last chunk.
func Handler(v Viewer, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	busy := make(chan struct{}, MaxHTTPQueries)
	limited := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			select {
			case busy <- struct{}{}:
				defer func() { <-busy }()
				h(w, r)
			default:
				w.Header().Set("Retry-After", "5")
				httpError(w, http.StatusServiceUnavailable, fmt.Sprintf("%d audit queries are running already; retry later", MaxHTTPQueries))
			}
		}
	}
	mux.HandleFunc("GET /audit/log", limited(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		now := time.Now()
		f := Filter{User: strings.TrimSpace(q.Get("user")), Route: strings.TrimSpace(q.Get("route")), Limit: DefaultHTTPLimit}
		var err error
		if f.Since, err = ParseTime(q.Get("since"), now); err != nil {
			httpError(w, http.StatusBadRequest, "since: "+err.Error())
			return
		}
		if f.Until, err = ParseTime(q.Get("until"), now); err != nil {
			httpError(w, http.StatusBadRequest, "until: "+err.Error())
			return
		}
		if s := q.Get("limit"); s != "" {
			if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 1 || f.Limit > MaxHTTPLimit {
				httpError(w, http.StatusBadRequest, fmt.Sprintf("limit: want an integer from 1 to %d; page with since= for more", MaxHTTPLimit))
				return
			}
		}
		end := time.Now().Add(httpMaxDuration)
		ctx, cancel := context.WithDeadline(r.Context(), end)
		defer cancel()
		dw := &deadlineWriter{w: w, rc: http.NewResponseController(w), end: end}
		bw := bufio.NewWriter(dw)
		enc := json.NewEncoder(bw)
		w.Header().Set("Content-Type", "application/x-ndjson")
		err = Log(ctx, v, f, func(e Entry) error { return enc.Encode(e) })
		if err == nil {
			err = bw.Flush()
		}
		if err != nil {
			if r.Context().Err() == nil { // a client that went away is not an error of ours
				log.Error("audit log", "err", err)
			}
			if !dw.wrote {
				httpError(w, http.StatusInternalServerError, "audit log: "+err.Error())
				return
			}
			// The status is sent already: end the response without its
			// last chunk, so that the client sees it cut short rather
			// than a complete answer.
			panic(http.ErrAbortHandler)
		}
	}))
	mux.HandleFunc("GET /audit/verify", limited(func(w http.ResponseWriter, r *http.Request) {
		var kept []Head
		for _, s := range r.URL.Query()["head"] {
			h, err := ParseHead(s)
			if err != nil {
				httpError(w, http.StatusBadRequest, err.Error())
				return
			}
			kept = append(kept, h)
		}
		index := false
		switch q := r.URL.Query().Get("index"); q {
		case "", "0", "false":
		case "1", "true":
			index = true
		default:
			httpError(w, http.StatusBadRequest, fmt.Sprintf("index: %q: want true or false", q))
			return
		}
		hc, canIndex := v.(HistoryChecker)
		if index && !canIndex {
			httpError(w, http.StatusBadRequest, "index: this store cannot rebuild its index")
			return
		}
		rep, err := Verify(r.Context(), v, kept)
		if err == nil && index {
			err = VerifyIndex(r.Context(), hc, &rep)
		}
		if err != nil {
			log.Error("audit verify", "err", err)
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if !rep.OK {
			w.WriteHeader(http.StatusConflict)
		}
		_ = json.NewEncoder(w).Encode(rep)
	}))
	return mux
}

// deadlineWriter gives each write to a streamed answer httpStallTimeout,
// and none past end.
type deadlineWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	end   time.Time
	wrote bool // the status and some of the body are sent
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	dl := time.Now().Add(httpStallTimeout)
	if dl.After(d.end) {
		dl = d.end
	}
	if err := d.rc.SetWriteDeadline(dl); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	d.wrote = true
	return d.w.Write(p)
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
