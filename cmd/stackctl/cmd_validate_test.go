package main

import (
	"strings"
	"testing"
)

// TestValidateSettings: validate reports every problem of the site's settings
// file in its own format, beside the compose findings, with exit 2.
func TestValidateSettings(t *testing.T) {
	dir := newSite(t, "version: 1\nlisen: 0.0.0.0:80\nredmine:\n  language: klingon\nmail:\n  smtp:\n    password: hunter2\n")
	t.Chdir(dir)
	code, stdout, stderr := run(t, "validate", "redmine", "--profile", "debian")
	if code != exitInvalid {
		t.Fatalf("validate: exit %d, want %d\n%s%s", code, exitInvalid, stdout, stderr)
	}
	for _, want := range []string{
		"stackctl.yaml:2: error Settings: lisen: unknown key\n    fix: did you mean listen?",
		"stackctl.yaml:4: error Settings: redmine.language: \"klingon\" is not a language Redmine 6 ships",
		"stackctl.yaml:7: error Settings: mail.smtp.password: a secret is never given inline\n    fix: put it in a file of yours with mode 0600 and name that file with mail.smtp.password_file",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("validate's report lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "hunter2") {
		t.Errorf("validate's report repeats the secret:\n%s", stdout)
	}
	// Only the settings file's findings: the stacks themselves are clean.
	if n := strings.Count(stdout, ": error "); n != 3 {
		t.Errorf("%d findings, want the settings file's 3:\n%s", n, stdout)
	}
}
