package stack

import (
	"testing"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/https"
)

// TestHTTPSPort: the port the edge publishes HTTPS to is the one nginx's
// HTTPS configuration listens on.
func TestHTTPSPort(t *testing.T) {
	if catalog.HTTPSPort != https.Port {
		t.Errorf("the edge publishes HTTPS to %d, nginx listens on %d", catalog.HTTPSPort, https.Port)
	}
}

// TestFilesStamp: the stamp changes with any file's name or content, and an
// empty directory (mode off) has none.
func TestFilesStamp(t *testing.T) {
	a := filesStamp(map[string]string{"https.conf": "x", "key.pem": "k"})
	for name, files := range map[string]map[string]string{
		"content": {"https.conf": "x", "key.pem": "k2"},
		"name":    {"https.conf": "x", "key2.pem": "k"},
		"shifted": {"https.conf": "xk", "key.pem": ""},
	} {
		if filesStamp(files) == a {
			t.Errorf("a changed %s keeps the stamp", name)
		}
	}
	if filesStamp(nil) != "" {
		t.Error("mode off has a stamp")
	}
}

// TestLoadHTTPS: with HTTPS on, the edge publishes nginx's HTTPS port on
// listen and its plain HTTP port on http_listen, or on listen's host, port
// 80; the nginx stack, which serves no HTTPS, is refused.
func TestLoadHTTPS(t *testing.T) {
	root := repoRoot(t)
	st, _ := catalog.LookupStack("redmine")
	for _, tc := range []struct {
		name, httpListen string
		want             map[uint32]string
	}{
		{"http_listen", "127.0.0.1:8081", map[uint32]string{8080: "127.0.0.1:8081", catalog.HTTPSPort: "0.0.0.0:8443"}},
		{"default", "", map[uint32]string{8080: "0.0.0.0:80", catalog.HTTPSPort: "0.0.0.0:8443"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			site := catalog.Overrides{HTTPS: true, HTTPListen: tc.httpListen}
			p, err := root.Load(t.Context(), st, catalog.Settings{Profile: catalog.ProfileDebian, Listen: "0.0.0.0:8443", Overrides: site})
			if err != nil {
				t.Fatal(err)
			}
			got := map[uint32]string{}
			for _, port := range p.Services["edge"].Ports {
				got[port.Target] = port.HostIP + ":" + port.Published
			}
			if len(got) != len(tc.want) || got[8080] != tc.want[8080] || got[catalog.HTTPSPort] != tc.want[catalog.HTTPSPort] {
				t.Errorf("edge publishes %v, want %v", got, tc.want)
			}
		})
	}
	nginx, _ := catalog.LookupStack("nginx")
	if _, err := root.Load(t.Context(), nginx, catalog.Settings{Profile: catalog.ProfileDebian, Listen: "127.0.0.1:8443", Overrides: catalog.Overrides{HTTPS: true}}); err == nil {
		t.Error("the nginx stack loads with HTTPS on")
	}
}
