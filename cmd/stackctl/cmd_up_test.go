package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/https"
	"github.com/stackctl/stackctl/internal/settings"
	"github.com/stackctl/stackctl/internal/site"
)

// newSite makes a site whose settings file holds settings.
func newSite(t *testing.T, settings string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tracker")
	if _, err := site.Init(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, site.SettingsFile), []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestUpRefusesSettings: up refuses a settings file with problems and secret
// files open to others, each at its line, with
// exit 2 and before it asks the engine for anything.
func TestUpRefusesSettings(t *testing.T) {
	for _, tc := range []struct {
		name, settings string
		want           []string
	}{
		{"a bad value", "version: 1\nresources:\n  db_memory: lots\n", []string{"stackctl.yaml:3: resources.db_memory: \"lots\" is not an amount of memory"}},
		{"an smtp password open to others", "version: 1\nmail:\n  smtp: {host: s.example, user: me, password_file: key.pem}\n",
			[]string{"stackctl.yaml:3: mail.smtp.password_file:", "is open to others", "chmod 600"}},
		{"a secret file open to others", "version: 1\nurl: https://t.example\ntls:\n  mode: files\n  certificate_file: cert.pem\n  key_file: key.pem\n",
			[]string{"stackctl.yaml:6: tls.key_file:", "is open to others", "chmod 600"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newSite(t, tc.settings)
			for name, mode := range map[string]os.FileMode{"cert.pem": 0o644, "key.pem": 0o644} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), mode); err != nil {
					t.Fatal(err)
				}
				os.Chmod(filepath.Join(dir, name), mode)
			}
			t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
			code, _, stderr := run(t, "--dir", dir, "up", "redmine", "--profile", "debian")
			if code != exitInvalid {
				t.Fatalf("up: exit %d, want %d: %s", code, exitInvalid, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("up says %q, want %q", stderr, w)
				}
			}
		})
	}
}

// TestListenPrecedence: --listen, then the settings file's listen; with
// neither, nothing, so that the runner keeps the recorded address, then the
// default (internal/stack's TestSiteSettings).
func TestListenPrecedence(t *testing.T) {
	set := settings.Default()
	set.Listen = "0.0.0.0:80"
	for _, tc := range []struct {
		flag string
		set  settings.Loaded
		want string
	}{
		{"127.0.0.1:9000", set, "127.0.0.1:9000"},
		{"", set, "0.0.0.0:80"},
		{"", settings.Default(), ""},
	} {
		if got := listenFor(tc.flag, tc.set); got != tc.want {
			t.Errorf("listenFor(%q, listen %q) = %q, want %q", tc.flag, tc.set.Listen, got, tc.want)
		}
	}
}

// TestBadSettingsDoNotBlockDown: a settings file with problems stops the
// commands that start containers, not those that stop or show a stack: they
// say they go on without it, and get as far as the engine.
func TestBadSettingsDoNotBlockDown(t *testing.T) {
	dir := newSite(t, "version: 1\nresources:\n  db_memory: lots\n")
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv("STACKCTL_STATE_DIR", t.TempDir())
	for _, args := range [][]string{{"ps", "redmine"}, {"down", "redmine"}, {"logs", "redmine"}} {
		code, _, stderr := run(t, append([]string{"--dir", dir}, args...)...)
		if code != exitUnavailable || !strings.Contains(stderr, "goes on without the settings file") ||
			!strings.Contains(stderr, "stackctl.yaml:3: resources.db_memory") {
			t.Errorf("%v with a bad settings file: exit %d, want %d after a warning naming the problem:\n%s", args, code, exitUnavailable, stderr)
		}
	}
	if code, _, _ := run(t, "--dir", dir, "rollback", "redmine"); code != exitInvalid {
		t.Errorf("rollback with a bad settings file: exit %d, want %d", code, exitInvalid)
	}
}

// TestUpRefusesTLSFiles: mode files' certificate and key are checked before
// up asks the engine for anything, and refused with exit 2 naming what is
// wrong: here a key that is not the certificate's.
func TestUpRefusesTLSFiles(t *testing.T) {
	now := time.Now()
	a, err := https.SelfSigned([]string{"t.example"}, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := https.SelfSigned([]string{"t.example"}, now)
	if err != nil {
		t.Fatal(err)
	}
	dir := newSite(t, "version: 1\nurl: https://t.example\ntls:\n  mode: files\n  certificate_file: cert.pem\n  key_file: key.pem\n")
	for name, content := range map[string][]byte{"cert.pem": a.ChainPEM, "key.pem": b.KeyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	code, _, stderr := run(t, "--dir", dir, "up", "redmine", "--profile", "debian")
	if code != exitInvalid || !strings.Contains(stderr, "key.pem is not the key of the certificate in") {
		t.Fatalf("up with a mismatched key: exit %d, want %d saying so:\n%s", code, exitInvalid, stderr)
	}
}
