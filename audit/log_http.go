package audit

import (
	"bufio"
	"encoding/json"
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

// Handler serves the audit trail on the admin listener:
//
//	GET /audit/log?since=&until=&user=&route=&limit=   JSON lines, as `scimgate audit log --json`
//	GET /audit/verify?head=stream:SEQ:HEX              the Report as JSON; 409 when it found problems
//
// since and until take what `audit log` takes (ParseTime).
func Handler(v Viewer, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /audit/log", func(w http.ResponseWriter, r *http.Request) {
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
		w.Header().Set("Content-Type", "application/x-ndjson")
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		if err := Log(r.Context(), v, f, func(e Entry) error { return enc.Encode(e) }); err != nil && r.Context().Err() == nil {
			// The status is sent already: the truncated body says it.
			// (A client that went away is not an error of ours.)
			log.Error("audit log", "err", err)
		}
		_ = bw.Flush()
	})
	mux.HandleFunc("GET /audit/verify", func(w http.ResponseWriter, r *http.Request) {
		var kept []Head
		for _, s := range r.URL.Query()["head"] {
			h, err := ParseHead(s)
			if err != nil {
				httpError(w, http.StatusBadRequest, err.Error())
				return
			}
			kept = append(kept, h)
		}
		rep, err := Verify(r.Context(), v, kept)
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
	})
	return mux
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
