package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/state"
	"github.com/stackctl/stackctl/internal/theme"
	"github.com/stackctl/stackctl/internal/upgrade"
)

// TestCheckThemeWithoutEngine: check-theme checks the site's theme folders
// before it looks for the engine, so a broken theme is reported (exit 10)
// where no engine runs, and a sound one gets as far as the engine (exit 4);
// --json prints the results it has either way.
func TestCheckThemeWithoutEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", nowhere)
	for _, tc := range []struct {
		name   string
		themes map[string]string // files written under the site's themes/
		empty  bool              // no theme folder at all
		none   bool              // no themes folder
		args   []string
		code   int
		stdout *regexp.Regexp
		says   string
	}{
		{name: "sound theme", args: []string{"check-theme"}, code: exitUnavailable,
			stdout: regexp.MustCompile(`^harbor +source +ok +\d+ files, digest [0-9a-f]{12}\n$`), says: "cannot reach the Docker engine"},
		{name: "broken theme", themes: map[string]string{"ocean/README.md": "a theme"}, args: []string{"check-theme"}, code: exitThemeSource,
			stdout: regexp.MustCompile(`(?m)^harbor +source +ok .*\nocean +source +FAILED +.*ocean/stylesheets/application.css is missing: Redmine lists a theme only if it has one\n$`),
			says:   "Redmine lists a theme only if it has one"},
		{name: "nested release", themes: map[string]string{"PurpleMine2-master/PurpleMine2-master/stylesheets/application.css": "x"},
			args: []string{"check-theme", "--theme", "PurpleMine2-master"}, code: exitThemeSource, says: "a downloaded release often nests the theme one level down"},
		{name: "no theme", empty: true, args: []string{"check-theme"}, code: exitThemeSource, stdout: regexp.MustCompile(`^$`),
			says: "add one as themes/<id>/stylesheets/application.css"},
		{name: "no themes folder", none: true, args: []string{"check-theme"}, code: exitThemeSource, stdout: regexp.MustCompile(`^$`),
			says: "the site has no themes folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newSite(t, "version: 1\n")
			themes := filepath.Join(dir, "themes")
			if tc.empty || tc.none {
				if err := os.RemoveAll(themes); err != nil {
					t.Fatal(err)
				}
			}
			if tc.empty {
				if err := os.Mkdir(themes, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for p, content := range tc.themes {
				full := filepath.Join(themes, filepath.FromSlash(p))
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			code, stdout, stderr := run(t, append([]string{"--dir", dir}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.says) {
				t.Fatalf("stackctl %v: exit %d, want %d saying %q:\n%s", tc.args, code, tc.code, tc.says, stderr)
			}
			if tc.stdout != nil && !tc.stdout.MatchString(stdout) {
				t.Errorf("stdout %q, want it to match %s", stdout, tc.stdout)
			}

			// The same run with --json: the results so far, as JSON.
			code, stdout, _ = run(t, append([]string{"--dir", dir}, append(tc.args, "--json")...)...)
			if code != tc.code {
				t.Fatalf("with --json: exit %d, want %d", code, tc.code)
			}
			if tc.empty || tc.none {
				// Refused before any layer ran: no result, as JSON.
				if strings.TrimSpace(stdout) != "[]" {
					t.Errorf("with --json and no theme, stdout %q, want an empty JSON array", stdout)
				}
				return
			}
			if tc.stdout == nil {
				return
			}
			var results []theme.Result
			if err := json.Unmarshal([]byte(stdout), &results); err != nil || results == nil {
				t.Fatalf("with --json, stdout %q is not a JSON array of results: %v", stdout, err)
			}
			for _, r := range results {
				if r.Layer != theme.LayerSource || r.Theme == "" || r.Detail == "" {
					t.Errorf("result %+v: want a source result naming its theme and saying why", r)
				}
			}
		})
	}
}

// TestRedmineLogin: check-theme logs in with the password from the file it
// is given; only stackctl's own file may be rewritten by a forced password
// change, never the operator's --admin-password-file.
func TestRedmineLogin(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "admin_password")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	access := stack.Access{Front: stack.Front{URL: "http://127.0.0.1:8080/"}}
	for _, tc := range []struct {
		name    string
		login   redmineLogin
		keeps   bool
		loginIs error
	}{
		{name: "stackctl's file", login: redmineLogin{access: access, passwordFile: file, managed: true}, keeps: true},
		{name: "the operator's file", login: redmineLogin{access: access, passwordFile: file}},
		{name: "no file", login: redmineLogin{access: access, passwordFile: filepath.Join(dir, "none")}, loginIs: theme.ErrLogin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, url, err := tc.login.Client(context.Background())
			if tc.loginIs != nil {
				if !errors.Is(err, tc.loginIs) || !strings.Contains(err.Error(), "reading the administrator's password") {
					t.Fatalf("Client = %v, want %v saying it could not read the password", err, tc.loginIs)
				}
				return
			}
			if err != nil || url != access.Front.URL {
				t.Fatalf("Client = %q, %v; want the front's URL", url, err)
			}
			keeper, ok := c.Passwords.(state.SecretKeeper)
			if tc.keeps != ok || ok && keeper.Path != file {
				t.Fatalf("client's password keeper %#v: want one on %s: %v", c.Passwords, file, tc.keeps)
			}
		})
	}
}

// TestConfirmWithoutTerminal: a question that cannot be asked refuses with
// the caller's error, naming the question and the flag that answers it.
func TestConfirmWithoutTerminal(t *testing.T) {
	for _, refused := range []error{errs.ErrInvalidInput, upgrade.ErrRefused} {
		var stderr bytes.Buffer
		g := &globalOptions{stdin: strings.NewReader("yes\n"), stderr: &stderr}
		err := g.confirm("remove 2 generation(s) of stack redmine?", "--yes", refused)
		if !errors.Is(err, refused) || !strings.Contains(err.Error(), "remove 2 generation(s) of stack redmine?: no terminal to ask on: pass --yes to go ahead") {
			t.Errorf("confirm without a terminal = %v, want %v naming the question and --yes", err, refused)
		}
		if stderr.Len() != 0 {
			t.Errorf("confirm asked %q with no terminal to answer", stderr.String())
		}
	}
}

// TestPushProfile: push refuses --profile auto, which names no one image,
// and an unknown profile (TestRefusedBeforeEngine: before it connects).
func TestPushProfile(t *testing.T) {
	for _, tc := range []struct {
		profile string
		is      error
		says    string
	}{
		{"auto", errUsage, "--profile auto: say which image to push, upstream or debian"},
		{"centos", errs.ErrInvalidInput, `unknown base profile "centos"`},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			_, err := pushProfile(tc.profile)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("pushProfile(%s) = %v, want %v saying %q", tc.profile, err, tc.is, tc.says)
			}
		})
	}
}
