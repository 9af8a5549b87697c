package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/scimgate/scimgate/assertion"
)

// whoami runs a tiny upstream that answers with the identity the gateway
// sent it, verifying the signed assertion: a way to see, and to check, what
// an application behind scimgate receives.

// whoamiAddr is where the demo upstream listens by default, the address
// the quickstart's routes name.
const whoamiAddr = "127.0.0.1:9001"

func whoami(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("whoami", stderr)
	listen := fs.String("listen", whoamiAddr, "address to listen on")
	jwks := fs.String("jwks", "http://127.0.0.1:8080/.scimgate/jwks.json", "the gateway's JWKS URL, to verify assertions")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var mu sync.Mutex
	var keys assertion.Keys
	verify := func(token string) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		for attempt := 0; attempt < 2; attempt++ {
			if keys == nil || attempt == 1 {
				k, err := assertion.FetchJWKS(ctx, *jwks)
				if err != nil {
					return nil, err
				}
				keys = k
			}
			v, err := assertion.Verify(token, keys, time.Now())
			if err == nil || attempt == 1 {
				return v, err
			}
		}
		return nil, nil
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := map[string]any{
			"method": r.Method, "path": r.URL.RequestURI(), "host": r.Host,
			"user":   r.Header.Get(assertion.HeaderUser),
			"email":  r.Header.Get(assertion.HeaderEmail),
			"groups": r.Header.Get(assertion.HeaderGroups),
		}
		if a := r.Header.Get(assertion.HeaderAssertion); a != "" {
			if v, err := verify(a); err != nil {
				out["assertion_error"] = err.Error()
			} else {
				out["assertion"] = v
			}
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("whoami: %w", err)
	}
	// Said once the port is ours: run in the background, a failure to
	// bind must not look like a start.
	fmt.Fprintf(stdout, "whoami listening on http://%s/, verifying assertions with %s\n", ln.Addr(), *jwks)
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return fmt.Errorf("whoami: %w", err)
	}
	return nil
}
