package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/internal/rundir"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

// The dataset of the issue: 100k users, 10k groups, 1M memberships. Group
// 0 ("all") holds every user; groups 1..9999 hold 90 users each.
const (
	numUsers    = 100_000
	numGroups   = 10_000
	perGroup    = 90
	datasetName = "scimgate-bench-v1"
)

func userID(i int) string  { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
func groupID(i int) string { return fmt.Sprintf("00000000-0000-4000-9000-%012d", i) }
func userName(i int) string {
	return fmt.Sprintf("user%06d@example.com", i)
}

// dataset returns the path of the generated database and its SCIM token,
// generating it once into the system temp directory.
func dataset() (string, string, error) {
	dir := filepath.Join(os.TempDir(), datasetName)
	db := filepath.Join(dir, "dataset.db")
	tokFile := filepath.Join(dir, "token")
	if tok, err := os.ReadFile(tokFile); err == nil {
		return db, string(tok), nil
	}
	os.RemoveAll(dir)
	start := time.Now()
	tok, err := generate(db)
	if err != nil {
		return "", "", fmt.Errorf("generate dataset: %w", err)
	}
	if err := os.WriteFile(tokFile, []byte(tok), 0o600); err != nil {
		return "", "", err
	}
	fmt.Fprintf(os.Stderr, "generated dataset in %s\n", time.Since(start).Round(time.Second))
	return db, tok, nil
}

func generate(path string) (string, error) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return "", err
	}
	defer st.Close()
	dir := directory.New(st, directory.Options{})
	secret, info, _, err := dir.CreateToken(ctx, "bench", "benchmarks", 0, "bench")
	if err != nil {
		return "", err
	}
	tn := info.TenantID
	now := time.Now().UTC()
	const chunk = 5000
	for lo := 0; lo < numUsers; lo += chunk {
		err := st.Update(ctx, func(tx store.Tx) error {
			for i := lo; i < min(lo+chunk, numUsers); i++ {
				doc := map[string]any{
					"userName": userName(i), "active": true, "externalId": fmt.Sprintf("ext-%d", i),
					"name":   map[string]any{"givenName": "Given", "familyName": fmt.Sprintf("Family%d", i)},
					"emails": []any{map[string]any{"value": userName(i), "type": "work", "primary": true}},
				}
				if err := insert(ctx, tx, tn, store.TypeUser, userID(i), userName(i), doc, now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	for lo := 0; lo < numGroups; lo += 100 {
		err := st.Update(ctx, func(tx store.Tx) error {
			for g := lo; g < min(lo+100, numGroups); g++ {
				name := fmt.Sprintf("group-%05d", g)
				if g == 0 {
					name = "all"
				}
				if err := insert(ctx, tx, tn, store.TypeGroup, groupID(g), name, map[string]any{"displayName": name}, now); err != nil {
					return err
				}
				var ms []store.Member
				if g == 0 {
					for i := range numUsers {
						ms = append(ms, store.Member{ID: userID(i)})
					}
				} else {
					for k := range perGroup {
						ms = append(ms, store.Member{ID: userID((g*perGroup + k) % numUsers)})
					}
				}
				if _, err := tx.AddMembers(ctx, tn, groupID(g), ms); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return secret, nil
}

func insert(ctx context.Context, tx store.Tx, tenant int64, typ, id, name string, doc map[string]any, now time.Time) error {
	b, _ := json.Marshal(doc)
	r := &store.Resource{TenantID: tenant, Type: typ, ID: id, NameKey: name, Display: name, Active: true,
		Version: 1, Created: now, Modified: now, Doc: b}
	if err := tx.InsertResource(ctx, r); err != nil {
		return err
	}
	after, _ := json.Marshal(map[string]any{"id": id, "doc": doc})
	return tx.AppendChange(ctx, &store.Change{TenantID: tenant, At: now, Actor: "bench", ResourceType: typ,
		ResourceID: id, Op: store.OpCreate, After: after})
}

// buildBinary builds scimgate once.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := rundir.Make("scimgate-bench-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "scimgate")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/scimgate").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
