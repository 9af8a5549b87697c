package rundir

import (
	"os"
	"testing"
)

func TestMakeRemoveAll(t *testing.T) {
	var made []string
	for range 2 {
		d, err := Make("rundir-test")
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Fatalf("Make gave %q: %v", d, err)
		}
		made = append(made, d)
	}
	if made[0] == made[1] {
		t.Fatalf("two Makes gave the same directory %q", made[0])
	}
	RemoveAll()
	for _, d := range made {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still there after RemoveAll: %v", d, err)
		}
	}
}
