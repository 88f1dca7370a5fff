package updates

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

const (
	securityMirror = "http://deb.debian.org/debian-security"
	updatesMirror  = "http://deb.debian.org/debian"
)

// testIndex is an index of suite offering each "package/arch version".
func testIndex(t *testing.T, mirror, suite string, offers ...string) *Index {
	t.Helper()
	x := &Index{Suite: Suite{Mirror: mirror, Name: suite}, Date: now}
	for _, o := range offers {
		var pkg, arch, v string
		if _, err := fmt.Sscanf(o, "%s %s %s", &pkg, &arch, &v); err != nil {
			t.Fatalf("offer %q: %v", o, err)
		}
		file := fmt.Sprintf("pool/main/%c/%s/%s_%s_%s.deb", pkg[0], pkg, pkg, v, arch)
		if err := x.add(Available{Package: pkg, Architecture: arch, Version: v, Filename: file}); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

// TestPending: what an image holds against trixie-security and trixie-updates.
func TestPending(t *testing.T) {
	security := testIndex(t, securityMirror, "trixie-security",
		"libssl3t64 amd64 3.5.10-1~deb13u1",
		"openssl amd64 3.5.10-1~deb13u1",
		"libc6 amd64 2.41-11",
		"base-files amd64 13.8+deb13u2",
		"curl amd64 8.14.1-2+deb13u1",
		"python3-foo amd64 2.0-1",
		"libc6 i386 2.41-13",
	)
	updates := testIndex(t, updatesMirror, "trixie-updates",
		"tzdata all 2025c-0+deb13u1",
		"base-files amd64 13.8+deb13u2",
		"curl amd64 8.14.1-2+deb13u2",
		"libssl3t64 amd64 3.5.10-1~deb13u1",
	)
	installed := []Installed{
		{Package: "tzdata", Architecture: "all", Version: "2025b-4+deb13u1", Source: "tzdata"},
		{Package: "libssl3t64", Architecture: "amd64", Version: "3.5.9-1~deb13u1", Source: "openssl"},
		{Package: "openssl", Architecture: "amd64", Version: "3.5.10-1~deb13u1", Source: "openssl"}, // same version: not pending
		{Package: "libc6", Architecture: "amd64", Version: "2.41-12", Source: "glibc"},              // the index's is older
		{Package: "base-files", Architecture: "amd64", Version: "13.8+deb13u1", Source: "base-files"},
		{Package: "curl", Architecture: "amd64", Version: "8.14.1-2", Source: "curl"},
		{Package: "python3-foo", Architecture: "all", Version: "1.0-1", Source: "foo"}, // offered for amd64 only
		{Package: "bash", Architecture: "amd64", Version: "5.2.37-2+b5", Source: "bash"},
	}
	deb := func(mirror, pkg, v, arch string) string {
		return fmt.Sprintf("%s/pool/main/%c/%s/%s_%s_%s.deb", mirror, pkg[0], pkg, pkg, v, arch)
	}
	want := []Update{
		// The same version in both: the security suite's, though given last.
		{Package: "base-files", Architecture: "amd64", Installed: "13.8+deb13u1", Available: "13.8+deb13u2", Suite: "trixie-security",
			URL: deb(securityMirror, "base-files", "13.8+deb13u2", "amd64")},
		// The newest offer wins over the security suite's.
		{Package: "curl", Architecture: "amd64", Installed: "8.14.1-2", Available: "8.14.1-2+deb13u2", Suite: "trixie-updates",
			URL: deb(updatesMirror, "curl", "8.14.1-2+deb13u2", "amd64")},
		{Package: "libssl3t64", Architecture: "amd64", Installed: "3.5.9-1~deb13u1", Available: "3.5.10-1~deb13u1", Suite: "trixie-security",
			URL: deb(securityMirror, "libssl3t64", "3.5.10-1~deb13u1", "amd64")},
		{Package: "tzdata", Architecture: "all", Installed: "2025b-4+deb13u1", Available: "2025c-0+deb13u1", Suite: "trixie-updates",
			URL: deb(updatesMirror, "tzdata", "2025c-0+deb13u1", "all")},
	}
	for _, order := range [][]*Index{{updates, security}, {security, updates}, {nil, updates, security}} {
		if got := Pending(installed, order...); !slices.Equal(got, want) {
			t.Errorf("Pending =\n%v\nwant\n%v", got, want)
		}
	}
	if got := Pending(installed); got != nil {
		t.Errorf("Pending without indexes = %v", got)
	}
}

// TestPendingVersionOrder: an update is pending exactly when dpkg would call
// the offered version newer: epochs, tildes, revisions, numeric parts.
func TestPendingVersionOrder(t *testing.T) {
	tests := []struct {
		installed, offered string
		pending            bool
	}{
		{"3.5.9-1~deb13u1", "3.5.10-1~deb13u1", true}, // 10 > 9 as numbers
		{"3.5.10-1~deb13u1", "3.5.9-1~deb13u1", false},
		{"2.0", "1:1.0", true}, // an epoch outranks the rest
		{"1:1.0", "2.0", false},
		{"7.2.2.2-1+deb13u2", "7.2.2.2-1+deb13u3", true},
		{"7.2.2.2-1+deb13u3", "7.2.2.2-1+deb13u2", false},
		{"3.5.10-1~deb13u1", "3.5.10-1", true}, // a tilde sorts before anything, the end too
		{"3.5.10-1", "3.5.10-1~deb13u1", false},
		{"1.0~rc1-1", "1.0-1", true},
		{"2.41-12", "2.41-12+deb13u1", true},
		{"2025b-0+deb13u1", "2025c-0+deb13u1", true},
		{"5.2.37-2", "5.2.37-2+b1", true}, // a binary-only rebuild
		{"1:2.38.1-5+deb12u3", "1:2.38.1-5+deb12u3", false},
		{"1.0-1", "1.0-01", false}, // leading zeros do not count
		{"not a version", "1.0", false},
	}
	for _, tc := range tests {
		t.Run(tc.installed+" to "+tc.offered, func(t *testing.T) {
			x := testIndex(t, securityMirror, "trixie-security", "p amd64 "+tc.offered)
			got := Pending([]Installed{{Package: "p", Architecture: "amd64", Version: tc.installed, Source: "p"}}, x)
			if (len(got) == 1) != tc.pending {
				t.Errorf("Pending = %v, want pending %v", got, tc.pending)
			}
		})
	}
}

// TestPublished: each update's time is its .deb's Last-Modified; one the
// mirror lacks (404) or gives no Last-Modified for is left zero, and the
// oldest time is returned. At most four requests are under way at once.
func TestPublished(t *testing.T) {
	modified := map[string]time.Time{
		"/pool/a.deb": time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC),
		"/pool/b.deb": time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC),
		"/pool/c.deb": time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC),
	}
	var (
		mu             sync.Mutex
		inFlight, most int
		methods        = map[string]int{}
		unblock        = make(chan struct{})
		arrived        = make(chan struct{}, 100)
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		methods[r.Method]++
		mu.Unlock()
		arrived <- struct{}{}
		<-unblock
		mu.Lock()
		inFlight--
		mu.Unlock()
		switch r.URL.Path {
		case "/pool/none.deb":
			w.WriteHeader(http.StatusOK) // no Last-Modified
		case "/pool/garbled.deb":
			w.Header().Set("Last-Modified", "yesterday")
		default:
			m, ok := modified[r.URL.Path]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Last-Modified", m.Format(http.TimeFormat))
		}
	}))
	defer srv.Close()

	names := []string{"a", "gone1", "b", "none", "gone2", "c", "garbled", "gone3", "gone4", "gone5"}
	var us []Update
	for _, n := range names {
		us = append(us, Update{Package: n, URL: srv.URL + "/pool/" + n + ".deb"})
	}
	us = append(us, Update{Package: "unreachable", URL: "http://127.0.0.1:1/pool/x.deb"})
	// Let the requests through once the first four have arrived, so that a
	// fifth could have been started alongside them had Published not waited.
	go func() {
		for range 4 {
			<-arrived
		}
		close(unblock)
	}()
	oldest := (&Fetcher{}).Published(context.Background(), us)
	if want := modified["/pool/b.deb"]; !oldest.Equal(want) {
		t.Errorf("Published = %v, want %v", oldest, want)
	}
	for _, u := range us {
		want := modified["/pool/"+u.Package+".deb"]
		if !u.Published.Equal(want) {
			t.Errorf("%s: Published = %v, want %v", u.Package, u.Published, want)
		}
	}
	if most > publishedConcurrency {
		t.Errorf("%d requests under way at once, want at most %d", most, publishedConcurrency)
	}
	if methods["HEAD"] != len(names) || len(methods) != 1 {
		t.Errorf("requests by method: %v, want %d HEAD", methods, len(names))
	}
	if got := (&Fetcher{}).Published(context.Background(), nil); !got.IsZero() {
		t.Errorf("Published of none = %v, want zero", got)
	}
}
