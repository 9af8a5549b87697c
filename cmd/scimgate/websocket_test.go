package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestWebSocketCut: an open WebSocket through the built-in proxy is closed
// when its user loses access, for each way access can go; the delay from
// the revocation's response to the client seeing the close is measured.
func TestWebSocketCut(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	defer echo.Close()
	routes := "  - {name: ws, path: /ws, upstream: \"" + echo.URL + "\", allow: {groups: [eng]}}\n"
	for _, kind := range []string{"deactivate", "group-removal", "user-delete", "token-revoke"} {
		t.Run(kind, func(t *testing.T) {
			s := newStack(t, routes)
			uid := s.createUser("alice")
			gid := s.createGroup("eng", uid)
			secret, tokID := s.accessToken("alice")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			url := "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/ws/echo"
			c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + secret}}})
			if err != nil {
				t.Fatalf("dial through the proxy: %v", err)
			}
			defer c.CloseNow()
			for i := range 3 {
				if err := c.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				if _, msg, err := c.Read(ctx); err != nil || string(msg) != "ping" {
					t.Fatalf("echo %d = %q, %v", i, msg, err)
				}
			}
			if n := s.a.streams.Len(); n != 1 {
				t.Errorf("%d streams tracked, want 1", n)
			}
			closed := make(chan time.Time, 1)
			go func() {
				_, _, err := c.Read(ctx)
				if err == nil {
					t.Errorf("read after revocation returned a message")
				}
				closed <- time.Now()
			}()
			switch kind {
			case "deactivate":
				s.mustSCIM(http.StatusOK, "PATCH", "/Users/"+uid, patchOps(`[{"op":"replace","value":{"active":false}}]`))
			case "group-removal":
				s.mustSCIM(http.StatusNoContent, "PATCH", "/Groups/"+gid, patchOps(`[{"op":"remove","path":"members[value eq \"`+uid+`\"]"}]`))
			case "user-delete":
				s.mustSCIM(http.StatusNoContent, "DELETE", "/Users/"+uid, "")
			case "token-revoke":
				if err := s.a.dir.RevokeAccessToken(ctx, tokID, "test"); err != nil {
					t.Fatal(err)
				}
			}
			revoked := time.Now()
			select {
			case at := <-closed:
				delay := at.Sub(revoked)
				t.Logf("WebSocket closed %v after the revocation returned", delay.Round(time.Microsecond))
				if delay > time.Second {
					t.Errorf("closed after %v, want within 1s", delay)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("the WebSocket is still open 2s after the revocation")
			}
			if _, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + secret}}}); err == nil {
				t.Errorf("a new WebSocket opened after the revocation")
			}
		})
	}
}
