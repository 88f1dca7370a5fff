package state

import (
	"os"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/atomicfile"
	"github.com/stackctl/stackctl/internal/catalog"
)

func TestStateRoundTrip(t *testing.T) {
	d := Dir(t.TempDir())
	s, err := d.Load("nginx")
	if err != nil || s.Profile != "" {
		t.Fatalf("Load of nothing = %+v, %v; want zero state", s, err)
	}
	want := State{Profile: catalog.ProfileDebian, Listen: "127.0.0.1:9000", FirstUpAt: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)}
	if err := d.Save("nginx", want); err != nil {
		t.Fatal(err)
	}
	got, err := d.Load("nginx")
	if err != nil || got != want {
		t.Fatalf("Load = %+v, %v; want %+v", got, err, want)
	}
	fi, err := os.Stat(d.statePath("nginx"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode = %v, want 0600", fi.Mode().Perm())
	}
	if err := d.Forget("nginx"); err != nil {
		t.Fatal(err)
	}
	if s, _ := d.Load("nginx"); s.Profile != "" {
		t.Errorf("after Forget, Load = %+v, want zero state", s)
	}
}

func TestStateRejectsDamage(t *testing.T) {
	for name, content := range map[string]string{
		"not json":     "{",
		"auto":         `{"profile":"auto"}`,
		"unknown base": `{"profile":"alpine"}`,
	} {
		t.Run(name, func(t *testing.T) {
			d := Dir(t.TempDir())
			if err := atomicfile.WriteFile(d.statePath("nginx"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Load("nginx"); err == nil {
				t.Fatal("Load accepted a damaged state file")
			}
		})
	}
}
