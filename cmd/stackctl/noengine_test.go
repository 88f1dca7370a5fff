package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// nowhere is a DOCKER_HOST no engine answers on.
const nowhere = "unix:///nonexistent/docker.sock"

// TestNeedsEngine: a command that needs the engine, with none to reach,
// exits 4 naming the engine it tried and how to start one, and prints no
// result on stdout.
func TestNeedsEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", nowhere)
	archive := filepath.Join(t.TempDir(), "redmine-20261123T060000Z.tar.zst")
	if err := os.WriteFile(archive, []byte("not read"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"ps", []string{"ps", "nginx"}},
		{"logs", []string{"logs", "redmine"}},
		{"status", []string{"status", "redmine", "--json"}},
		{"prune", []string{"prune", "redmine", "--dry-run"}},
		{"rollback", []string{"rollback", "redmine", "--to", "1"}},
		{"renew", []string{"renew", "redmine"}},
		{"mail test", []string{"mail", "test", "admin@example.org"}},
		{"upgrade", []string{"upgrade", "redmine", "--to", "6.1.5", "--yes"}},
		{"push", []string{"push", "redmine", "--to", "registry.example.com/team/redmine:6.0"}},
		{"kernel build", []string{"kernel", "build", "--profile", "debian", "--out", t.TempDir()}},
		{"base build all", []string{"base", "build", "all"}},
		{"up --dry-run", []string{"up", "nginx", "--dry-run", "--profile", "debian"}},
		{"up --dry-run --on swarm", []string{"up", "redmine", "--dry-run", "--on", "swarm", "--registry", "registry.example.com:5000", "--profile", "debian"}},
		{"config, auto with nothing recorded", []string{"config", "nginx", "--profile", "auto"}},
		{"backup-volumes", []string{"backup-volumes", "--out", t.TempDir(), "--keep-last", "3"}},
		{"restore-volumes", []string{"restore-volumes", "--yes", archive}},
		{"restore-volumes --dry-run", []string{"restore-volumes", "--dry-run", archive}},
		{"rollback --dry-run", []string{"rollback", "redmine", "--dry-run", "--json"}},
		{"upgrade --dry-run", []string{"upgrade", "redmine", "--to", "6.1.5", "--dry-run"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.args...)
			if code != exitUnavailable || !strings.Contains(stderr, "cannot reach the Docker engine at "+nowhere) ||
				!strings.Contains(stderr, "start it (systemctl start docker) or point DOCKER_HOST at a running one") {
				t.Fatalf("stackctl %v: exit %d, want %d naming the engine and how to start it:\n%s", tc.args, code, exitUnavailable, stderr)
			}
			if stdout != "" {
				t.Errorf("stackctl %v printed a result without an engine: %q", tc.args, stdout)
			}
		})
	}
}

// TestRefusedBeforeEngine: flags and arguments a command refuses before it
// looks for an engine (there is none here), each with its exit code and a
// message that names the flag and what to give instead.
func TestRefusedBeforeEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", nowhere)
	dir := t.TempDir()
	recipients := filepath.Join(dir, "recipients.txt")
	if err := os.WriteFile(recipients, []byte("# the team\nnot-a-recipient\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notIdentity := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(notIdentity, []byte("AGE-SECRET-KEY-NOPE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A real identity, but readable by others, and a link to it: refused as any other secret file.
	openIdentity, linkedIdentity := filepath.Join(dir, "open-key.txt"), filepath.Join(dir, "linked-key.txt")
	if err := os.WriteFile(openIdentity, []byte("AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(openIdentity, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(notIdentity, linkedIdentity); err != nil {
		t.Fatal(err)
	}
	const recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"upgrade without --to", []string{"upgrade", "redmine"}, exitInvalid, "--to VERSION is required: 6.0.5 (debian) or 6.0.10 (upstream)"},
		{"upgrade, no stack", []string{"upgrade", "--to", "6.1.5"}, exitInvalid, "name one stack"},
		{"push without --to", []string{"push", "redmine"}, exitInvalid, "say where to push with --to REGISTRY/REPOSITORY:TAG"},
		{"push, no stack", []string{"push", "--to", "team/redmine:6.0"}, exitInvalid, "name one stack: one of [nginx redmine]"},
		{"push to a URL", []string{"push", "redmine", "--to", "https://registry.example.com/redmine"}, exitInvalid, "give REGISTRY/REPOSITORY:TAG"},
		{"push without a tag", []string{"push", "redmine", "--to", "team/redmine"}, exitInvalid, "has no tag: give one, such as team/redmine:6.0"},
		{"push --profile auto", []string{"push", "redmine", "--to", "team/redmine:6.0", "--profile", "auto"}, exitInvalid, "--profile auto: say which image to push, upstream or debian"},
		{"push, unknown profile", []string{"push", "redmine", "--to", "team/redmine:6.0", "--profile", "alpine"}, exitInvalid, `unknown base profile "alpine"`},
		{"push to a digest", []string{"push", "redmine", "--to", "team/redmine@sha256:" + strings.Repeat("a", 64)}, exitInvalid, "a digest names what a registry holds"},
		{"kernel build, unknown profile", []string{"kernel", "build", "--profile", "alpine"}, exitInvalid, `unknown base profile "alpine"`},
		{"check-theme --screenshot without --apply", []string{"check-theme", "--screenshot", "harbor.png"}, exitInvalid, "--screenshot shows the theme applied: add --apply"},
		{"check-theme, unknown theme", []string{"check-theme", "--theme", "ocean", "--dir", "../.."}, exitThemeSource, "themes/ocean/stylesheets/application.css"},
		{"up, bad --files-volume", []string{"up", "redmine", "--on", "swarm", "--files-volume", "nfs"}, exitInvalid, `--files-volume "nfs": give the local driver's options as KEY=VALUE`},
		{"up, unknown --on", []string{"up", "redmine", "--dry-run", "--on", "moon", "--profile", "debian"}, exitInvalid, `--on "moon": give engine or swarm`},
		{"up --dry-run --on swarm, no registry", []string{"up", "redmine", "--dry-run", "--on", "swarm", "--profile", "debian"}, exitInvalid, "give --registry REGISTRY[/PREFIX]"},
		{"up --dry-run, bad --listen", []string{"up", "nginx", "--dry-run", "--listen", "8080"}, exitInvalid, `--listen "8080": want HOST:PORT`},
		{"up --dry-run, unknown profile", []string{"up", "nginx", "--dry-run", "--profile", "centos"}, exitInvalid, `unknown base profile "centos"`},
		{"up --dry-run, no stack", []string{"up", "--dry-run"}, exitInvalid, "name one stack"},
		{"restore-volumes, unknown stack", []string{"restore-volumes", "--stack", "wordpress", "x.tar.zst"}, exitInvalid, `unknown stack "wordpress"`},
		{"restore-volumes, bad --listen", []string{"restore-volumes", "--listen", "localhost", "x.tar.zst"}, exitInvalid, `--listen "localhost"`},
		{"restore-volumes, missing identity", []string{"restore-volumes", "-i", filepath.Join(dir, "none.txt"), "x.tar.zst"}, exitInvalid, "--identity: open "},
		{"restore-volumes, not an identity", []string{"restore-volumes", "-i", notIdentity, "x.tar.zst"}, exitInvalid, "--identity " + notIdentity},
		{"restore-volumes, bad --files-volume", []string{"restore-volumes", "--files-volume", "=x", "x.tar.zst"}, exitInvalid, `--files-volume "=x"`},
		{"backup-volumes, bad recipient", []string{"backup-volumes", "--encrypt-to", "age1nope"}, exitInvalid, "--encrypt-to age1nope: malformed recipient"},
		{"backup-volumes, no recipient file", []string{"backup-volumes", "--encrypt-to", filepath.Join(dir, "none.txt")}, exitInvalid, "neither an age recipient (age1…) nor a readable file"},
		{"backup-volumes, bad recipient file", []string{"backup-volumes", "--encrypt-to", recipients}, exitInvalid, "--encrypt-to " + recipients},
		{"backup-volumes, test of an encrypted archive without identity", []string{"backup-volumes", "--test-restore", "--encrypt-to", recipient}, exitInvalid,
			"--test-restore of an encrypted archive needs an --identity that opens it"},
		{"backup-volumes, --identity without --test-restore", []string{"backup-volumes", "-i", notIdentity}, exitInvalid, "--identity and --timeout are --test-restore's"},
		{"backup-volumes, --timeout without --test-restore", []string{"backup-volumes", "--timeout", "1m"}, exitInvalid, "--identity and --timeout are --test-restore's"},
		{"backup-volumes, unknown stack", []string{"backup-volumes", "wordpress"}, exitInvalid, `unknown stack "wordpress"`},
		{"verify-backup, not an identity", []string{"verify-backup", "-i", notIdentity, "x.tar.zst"}, exitInvalid, "--identity " + notIdentity},
		{"verify-backup, identity open to others", []string{"verify-backup", "-i", openIdentity, "x.tar.zst"}, exitInvalid,
			"--identity: " + openIdentity + " is open to others (mode -rw-r--r--): chmod 600 " + openIdentity},
		{"restore-volumes, identity a symbolic link", []string{"restore-volumes", "-i", linkedIdentity, "x.tar.zst"}, exitInvalid, "--identity: " + linkedIdentity + " is a symbolic link"},
		{"verify-backup, archive missing", []string{"verify-backup", filepath.Join(dir, "redmine-20261123T060000Z.tar.zst")}, exitNotFound, "no such file"},
		{"generations, no stack", []string{"generations"}, exitInvalid, "name one stack"},
		{"status, unknown stack", []string{"status", "wordpress"}, exitInvalid, `unknown stack "wordpress": known stacks are nginx, redmine`},
		{"prune, unknown stack", []string{"prune", "wordpress"}, exitInvalid, `unknown stack "wordpress"`},
		{"renew, bad settings", []string{"--dir", newSite(t, "version: 1\nurl: ftp://t.example\n"), "renew", "redmine"}, exitInvalid, "stackctl.yaml:2: url"},
		{"mail test, unknown stack", []string{"mail", "test", "--stack", "wordpress", "admin@example.org"}, exitInvalid, `unknown stack "wordpress"`},
		{"bad flag value", []string{"prune", "redmine", "--keep", "two"}, exitInvalid, `invalid argument "two" for "--keep"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.says) {
				t.Fatalf("stackctl %v: exit %d, want %d saying %q:\n%s", tc.args, code, tc.code, tc.says, stderr)
			}
			if strings.Contains(stderr, "Docker engine") {
				t.Errorf("stackctl %v looked for the engine before refusing: %s", tc.args, stderr)
			}
		})
	}
}

// TestRecipientsFile: --encrypt-to takes a file of recipients, comments and
// all; with it, backup-volumes gets as far as the engine.
func TestRecipientsFile(t *testing.T) {
	t.Setenv("DOCKER_HOST", nowhere)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "recipients.txt")
	if err := os.WriteFile(file, []byte("# the backup key\n"+id.Recipient().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	identity := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(identity, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "backup-volumes", "--out", t.TempDir(), "--encrypt-to", file, "--test-restore", "-i", identity)
	if code != exitUnavailable {
		t.Fatalf("backup-volumes --encrypt-to FILE: exit %d, want %d (refused nothing, then no engine): %s", code, exitUnavailable, stderr)
	}
}

// TestJSONWithoutEngine: the listings that need no engine print an empty
// JSON array, never null or nothing, when there is nothing to list; their
// text form says so on stderr and how to make one.
func TestJSONWithoutEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", nowhere)
	t.Setenv("STACKCTL_BACKUP_DIR", "")
	root := t.TempDir()
	for _, tc := range []struct {
		name   string
		args   []string
		stdout string
		stderr string
	}{
		{"backups", []string{"backups", "redmine", "--json"}, "[]\n", ""},
		{"backups, text", []string{"backups", "nginx"}, "", "no backups of stack nginx on "},
		{"schedules", []string{"schedule", "list", "--json", "--system-root", root}, "[]\n", ""},
		{"schedules, text", []string{"schedule", "list", "--system-root", root}, "", "no schedules: 'stackctl schedule backup STACK --daily HH:MM' makes a backup's, 'stackctl schedule update STACK --daily HH:MM' an update's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.args...)
			if code != exitOK || stdout != tc.stdout || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("stackctl %v: exit %d, stdout %q, stderr %q; want stdout %q, stderr saying %q", tc.args, code, stdout, stderr, tc.stdout, tc.stderr)
			}
			if tc.stdout != "" {
				var v []any
				if err := json.Unmarshal([]byte(stdout), &v); err != nil || v == nil {
					t.Fatalf("stdout %q is not an empty JSON array: %v", stdout, err)
				}
			}
		})
	}
}

// TestConfigWithoutEngine: config with a profile named prints each stack's
// compose model with that profile's images, and records nothing.
func TestConfigWithoutEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", nowhere)
	for _, tc := range []struct {
		stack, profile string
		want           []string
	}{
		{"nginx", "debian", []string{"name: stackctl-nginx", "NGINX_BASE: stackctl/base-nginx:trixie"}},
		{"redmine", "upstream", []string{"name: stackctl-redmine", "db:", "redmine:"}},
		{"redmine", "debian", []string{"name: stackctl-redmine", "stackctl/base-"}},
	} {
		t.Run(tc.stack+" "+tc.profile, func(t *testing.T) {
			state := t.TempDir()
			code, stdout, stderr := run(t, "--state-dir", state, "config", tc.stack, "--profile", tc.profile)
			if code != exitOK {
				t.Fatalf("config: exit %d: %s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("config %s --profile %s lacks %q", tc.stack, tc.profile, w)
				}
			}
			if left, _ := os.ReadDir(state); len(left) != 0 {
				t.Errorf("config, which only looks, left %v in the state directory", left)
			}
		})
	}
}

// TestGenerationsNeverStarted: a stack never started has no generations, as
// its state says, with no engine to ask; a stack without data says it has none.
func TestGenerationsNeverStarted(t *testing.T) {
	t.Setenv("DOCKER_HOST", nowhere)
	t.Setenv("STACKCTL_STATE_DIR", t.TempDir())
	code, stdout, stderr := run(t, "generations", "redmine")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "stack redmine has no generations yet: 'stackctl up redmine' makes the first") {
		t.Errorf("generations: exit %d, stdout %q, stderr %q; want 0 saying there is none yet", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "generations", "redmine", "--json")
	var gens []any
	if err := json.Unmarshal([]byte(stdout), &gens); code != 0 || err != nil || gens == nil || len(gens) != 0 {
		t.Errorf("generations --json: exit %d, stdout %q (%v), stderr %q; want an empty JSON array", code, stdout, err, stderr)
	}
	code, _, stderr = run(t, "generations", "nginx")
	if code != exitInvalid || !strings.Contains(stderr, "stack nginx has no data, so no generations") || strings.Contains(stderr, "Docker engine") {
		t.Errorf("generations nginx: exit %d, stderr %q; want %d saying it has no data", code, stderr, exitInvalid)
	}
}
