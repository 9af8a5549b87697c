package audit

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// AccessHandler serves the point-in-time queries on the admin listener,
// as JSON, the same answers as `scimgate access who` and `access history`
// with --json:
//
//	GET /access/who?route=R&at=T           a WhoResult
//	GET /access/history?user=U&route=R     a HistoryResult (route optional)
//
// at takes what --at takes (ParseTime). Unknown routes and users, and
// times without a policy, are 404; missing or bad parameters 400.
func AccessHandler(v Viewer, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	answer := func(w http.ResponseWriter, res any, err error) {
		switch {
		case errors.Is(err, ErrUnknownRoute), errors.Is(err, ErrUnknownUser), errors.Is(err, ErrNoPolicy):
			httpError(w, http.StatusNotFound, err.Error())
		case err != nil:
			log.Error("access query", "err", err)
			httpError(w, http.StatusInternalServerError, err.Error())
		default:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(res)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /access/who", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		route := strings.TrimSpace(q.Get("route"))
		at, err := ParseTime(q.Get("at"), time.Now())
		switch {
		case route == "":
			httpError(w, http.StatusBadRequest, "route: required")
			return
		case err != nil:
			httpError(w, http.StatusBadRequest, "at: "+err.Error())
			return
		case at.IsZero():
			httpError(w, http.StatusBadRequest, "at: required (an RFC 3339 time such as 2026-01-02T15:04:05Z)")
			return
		}
		res, err := Who(r.Context(), v, route, at)
		answer(w, res, err)
	})
	mux.HandleFunc("GET /access/history", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if strings.TrimSpace(q.Get("user")) == "" {
			httpError(w, http.StatusBadRequest, "user: required")
			return
		}
		res, err := History(r.Context(), v, q.Get("user"), q.Get("route"))
		answer(w, res, err)
	})
	return mux
}
