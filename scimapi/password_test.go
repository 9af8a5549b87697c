package scimapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scimapi"

	_ "modernc.org/sqlite" // the driver the store uses
)

// syncBuffer is a bytes.Buffer safe for the server's concurrent logging.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestPasswordNeverStoredNorReturned: a password sent on every write path
// (POST, PUT, PATCH with and without a path, Bulk POST, PUT and PATCH, in
// the spellings IdPs use) is accepted and discarded. Each write carries a
// distinct password and a distinct nickName; afterwards the SQLite file,
// read directly, holds every nickName (so the scan reads what was stored)
// and no password: not in resources.doc, not in changes.before or
// changes.after, not in any column of any table, not in the database or
// WAL bytes. No response and no log line carries one either, nor does any
// GET, list or search, even one that asks for the password attribute.
func TestPasswordNeverStoredNorReturned(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newAPIHarness(t, directory.Options{Logger: logger}, scimapi.Options{Logger: logger})
	const userSchema = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]`
	const patchSchema = `"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`
	const bulkSchema = `"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]`

	// Passwords avoid JSON's escaped characters (<, >, &, quotes), so that
	// a stored copy would show byte for byte.
	type write struct {
		name     string
		password string
		nick     string // stored with the password: it must be found
		do       func(t *testing.T, pw, nick string) (userID string, responses [][]byte)
	}
	newUser := func(t *testing.T, name string) string {
		return h.create(t, "Users", `{`+userSchema+`,"userName":"`+name+`"}`)
	}
	bulkResult := func(t *testing.T, raw []byte) (status, location string) {
		t.Helper()
		var br struct {
			Operations []struct {
				Status   string          `json:"status"`
				Location string          `json:"location"`
				Response json.RawMessage `json:"response"`
			} `json:"Operations"`
		}
		if err := json.Unmarshal(raw, &br); err != nil || len(br.Operations) != 1 {
			t.Fatalf("bulk response %s: %v", raw, err)
		}
		op := br.Operations[0]
		if !strings.HasPrefix(op.Status, "2") {
			t.Fatalf("bulk operation failed: %s %s", op.Status, op.Response)
		}
		return op.Status, op.Location
	}
	writes := []write{
		{name: "POST", password: "Pw1-post-t1meMa$heen", nick: "nick-post",
			do: func(t *testing.T, pw, nick string) (string, [][]byte) {
				raw := h.mustCall(t, http.StatusCreated, "POST", "/scim/v2/Users",
					`{`+userSchema+`,"userName":"post","nickName":"`+nick+`","password":"`+pw+`"}`)
				var res struct{ ID string }
				json.Unmarshal(raw, &res)
				return res.ID, [][]byte{raw}
			}},
		{name: "POST with the attribute name in capitals", password: "Pw2-POST-Caps!x", nick: "nick-caps",
			do: func(t *testing.T, pw, nick string) (string, [][]byte) {
				raw := h.mustCall(t, http.StatusCreated, "POST", "/scim/v2/Users",
					`{`+userSchema+`,"userName":"caps","nickName":"`+nick+`","PASSWORD":"`+pw+`"}`)
				var res struct{ ID string }
				json.Unmarshal(raw, &res)
				return res.ID, [][]byte{raw}
			}},
		{name: "POST with the schema-qualified name", password: "Pw3-urn-9kQz", nick: "nick-urn",
			do: func(t *testing.T, pw, nick string) (string, [][]byte) {
				raw := h.mustCall(t, http.StatusCreated, "POST", "/scim/v2/Users",
					`{`+userSchema+`,"userName":"urn","nickName":"`+nick+`","urn:ietf:params:scim:schemas:core:2.0:User:password":"`+pw+`"}`)
				var res struct{ ID string }
				json.Unmarshal(raw, &res)
				return res.ID, [][]byte{raw}
			}},
		{name: "PUT", password: "Pw4-put-n3wPa$$", nick: "nick-put",
			do: func(t *testing.T, pw, nick string) (string, [][]byte) {
				id := newUser(t, "put")
				raw := h.mustCall(t, http.StatusOK, "PUT", "/scim/v2/Users/"+id,
					`{`+userSchema+`,"userName":"put","nickName":"`+nick+`","password":"`+pw+`"}`)
				return id, [][]byte{raw}
			}},
		{name: "PATCH replace with path", password: "Pw5-patch-path-Lq7", nick: "nick-patch-path",
			do: func(t *testing.T, pw, nick string) (string, [][]byte) {
				id := newUser(t, "patch-path")
				raw := h.mustCall(t, http.StatusOK, "PATCH", "/scim/v2/Users/"+id,
					`{`+patchSchema+`,"Operations":[{"op":"replace","path":"password","value":"`+pw+`"},{"op":"replace","path":"nickName","value":"`+nick+`"}]}`)
				return id, [][]byte{raw}
			}},
		{name: "PATCH replace without path", password: "Pw6-patch-nopath-Vb2", nick: "nick-patch-nopath",
			do: func(t *testing.T, pw, nick string) (string, [][]byte) {
				id := newUser(t, "patch-nopath")
				raw := h.mustCall(t, http.StatusOK, "PATCH", "/scim/v2/Users/"+id,
					`{`+patchSchema+`,"Operations":[{"op":"replace","value":{"password":"`+pw+`","nickName":"`+nick+`"}}]}`)
				return id, [][]byte{raw}
			}},
		{name: "PATCH add", password: "Pw7-patch-add-Hh4", nick: "nick-patch-add",
			do: func(t *testing.T, pw, nick string) (string, [][]byte) {
				id := newUser(t, "patch-add")
				raw := h.mustCall(t, http.StatusOK, "PATCH", "/scim/v2/Users/"+id,
					`{`+patchSchema+`,"Operations":[{"op":"add","path":"password","value":"`+pw+`"},{"op":"add","value":{"nickName":"`+nick+`"}}]}`)
				return id, [][]byte{raw}
			}},
		{name: "Bulk POST", password: "Pw8-bulk-post-Zx5", nick: "nick-bulk-post",
			do: func(t *testing.T, pw, nick string) (string, [][]byte) {
				raw := h.mustCall(t, http.StatusOK, "POST", "/scim/v2/Bulk",
					`{`+bulkSchema+`,"Operations":[{"method":"POST","path":"/Users","bulkId":"b1","data":{`+userSchema+`,"userName":"bulk-post","nickName":"`+nick+`","password":"`+pw+`"}}]}`)
				_, loc := bulkResult(t, raw)
				return loc[strings.LastIndex(loc, "/")+1:], [][]byte{raw}
			}},
		{name: "Bulk PUT", password: "Pw9-bulk-put-Qm3", nick: "nick-bulk-put",
			do: func(t *testing.T, pw, nick string) (string, [][]byte) {
				id := newUser(t, "bulk-put")
				raw := h.mustCall(t, http.StatusOK, "POST", "/scim/v2/Bulk",
					`{`+bulkSchema+`,"Operations":[{"method":"PUT","path":"/Users/`+id+`","data":{`+userSchema+`,"userName":"bulk-put","nickName":"`+nick+`","password":"`+pw+`"}}]}`)
				bulkResult(t, raw)
				return id, [][]byte{raw}
			}},
		{name: "Bulk PATCH", password: "Pw10-bulk-patch-Rr8", nick: "nick-bulk-patch",
			do: func(t *testing.T, pw, nick string) (string, [][]byte) {
				id := newUser(t, "bulk-patch")
				raw := h.mustCall(t, http.StatusOK, "POST", "/scim/v2/Bulk",
					`{`+bulkSchema+`,"Operations":[{"method":"PATCH","path":"/Users/`+id+`","data":{`+patchSchema+
						`,"Operations":[{"op":"replace","value":{"password":"`+pw+`","nickName":"`+nick+`"}}]}}]}`)
				bulkResult(t, raw)
				return id, [][]byte{raw}
			}},
	}

	type sent struct {
		write
		id string
	}
	var all []sent
	var responses [][]byte
	for _, w := range writes {
		t.Run("write/"+w.name, func(t *testing.T) {
			id, rs := w.do(t, w.password, w.nick)
			if id == "" {
				t.Fatalf("no user id from %s", w.name)
			}
			all = append(all, sent{write: w, id: id})
			responses = append(responses, rs...)
		})
	}
	if len(all) != len(writes) {
		t.Fatalf("only %d of %d writes succeeded", len(all), len(writes))
	}

	// Reads, including ones that ask for the password.
	reads := []struct{ method, target, body string }{
		{"GET", "/scim/v2/Users", ""},
		{"GET", "/scim/v2/Users?" + encodeQuery("attributes=password,userName"), ""},
		{"GET", "/scim/v2/Users?" + encodeQuery("excludedAttributes=name"), ""},
		{"POST", "/scim/v2/Users/.search", searchBody(`,"attributes":["password","nickName"]`)},
		{"POST", "/scim/v2/.search", searchBody(``)},
	}
	for _, s := range all {
		reads = append(reads,
			struct{ method, target, body string }{"GET", "/scim/v2/Users/" + s.id, ""},
			struct{ method, target, body string }{"GET", "/scim/v2/Users/" + s.id + "?" + encodeQuery("attributes=password"), ""})
	}
	for _, r := range reads {
		responses = append(responses, h.mustCall(t, http.StatusOK, r.method, r.target, r.body))
	}
	// No filter can find a user by a password: none is kept to compare.
	filters := []string{"password pr"}
	for _, s := range all {
		filters = append(filters, `password eq "`+s.password+`"`)
	}
	for _, f := range filters {
		raw := h.mustCall(t, http.StatusOK, "GET", "/scim/v2/Users?"+encodeQuery("filter="+f), "")
		if p := decodePage(t, raw); p.TotalResults != 0 {
			t.Errorf("filter %s matches %d users, want none", f, p.TotalResults)
		}
	}
	// The reads return what was stored: each nickName, on its own user.
	for _, s := range all {
		var u map[string]any
		if err := json.Unmarshal(h.mustCall(t, http.StatusOK, "GET", "/scim/v2/Users/"+s.id, ""), &u); err != nil {
			t.Fatal(err)
		}
		if u["nickName"] != s.nick {
			t.Errorf("%s: user %s has nickName %v, want %q: the write did not apply", s.name, s.id, u["nickName"], s.nick)
		}
		for k := range u {
			if strings.EqualFold(k, "password") {
				t.Errorf("%s: GET returns attribute %q", s.name, k)
			}
		}
	}
	for _, raw := range responses {
		for _, s := range all {
			if bytes.Contains(raw, []byte(s.password)) {
				t.Errorf("%s: a response carries the password: %s", s.name, raw)
			}
		}
	}
	for _, s := range all {
		if strings.Contains(logs.String(), s.password) {
			t.Errorf("%s: the password is in the server log", s.name)
		}
	}

	// The store, read straight from the SQLite file.
	db, err := sql.Open("sqlite", "file:"+h.dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	docs := columnText(t, db, `SELECT doc FROM resources WHERE type = 'User'`)
	events := columnText(t, db, `SELECT coalesce(before, '') || ' ' || coalesce(after, '') FROM changes WHERE resource_type = 'User'`)
	if len(docs) != len(all) {
		t.Fatalf("resources holds %d users, want %d", len(docs), len(all))
	}
	for _, s := range all {
		if !containsAny(docs, s.nick) {
			t.Errorf("%s: nickName %q not found in resources.doc: the scan does not read the stored documents", s.name, s.nick)
		}
		if !containsAny(events, s.nick) {
			t.Errorf("%s: nickName %q not found in changes.after: the scan does not read the change log", s.name, s.nick)
		}
		if containsAny(docs, s.password) {
			t.Errorf("%s: the password is stored in resources.doc", s.name)
		}
		if containsAny(events, s.password) {
			t.Errorf("%s: the password is stored in the change log (changes.before/after)", s.name)
		}
	}
	// Every column of every table.
	tables := columnText(t, db, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if len(tables) < 5 {
		t.Fatalf("only %d tables: %v", len(tables), tables)
	}
	for _, table := range tables {
		rows, err := db.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				text := fmt.Sprint(v)
				if b, ok := v.([]byte); ok {
					text = string(b)
				}
				for _, s := range all {
					if strings.Contains(text, s.password) {
						t.Errorf("%s: the password is stored in %s.%s", s.name, table, cols[i])
					}
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	// And the bytes on disk, WAL included: the nickNames are there, the
	// passwords are not.
	var disk []byte
	for _, file := range []string{h.dbPath, h.dbPath + "-wal"} {
		b, err := os.ReadFile(file)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		disk = append(disk, b...)
	}
	for _, s := range all {
		if !bytes.Contains(disk, []byte(s.nick)) {
			t.Errorf("%s: nickName %q not in the database files: the byte scan does not see stored data", s.name, s.nick)
		}
		if bytes.Contains(disk, []byte(s.password)) {
			t.Errorf("%s: the password is in the bytes of the database files", s.name)
		}
	}
}

// columnText runs a query of one column and returns its values as text.
func columnText(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(v))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func containsAny(list []string, s string) bool {
	for _, v := range list {
		if strings.Contains(v, s) {
			return true
		}
	}
	return false
}
