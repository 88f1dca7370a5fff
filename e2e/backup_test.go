package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/signing"
	"github.com/stackctl/stackctl/internal/state"
)

// populatedStack is a Redmine stack of t's own, populated: two projects,
// issues with attachments (57 MB: random like photos, and text that
// compresses), a wiki page, and a file in the plugins volume, with the check
// that reads it all back.
type populatedStack struct {
	api      client.APIClient
	env      []string
	listen   string
	rm       *redmine
	checkAll func(*testing.T)
}

func newPopulatedStack(t *testing.T) populatedStack {
	t.Helper()
	api := dockerAPI(t)
	root := copyProject(t)
	state := t.TempDir()
	env := []string{instanceEnv(t), "STACKCTL_STATE_DIR=" + state, "STACKCTL_DIR=" + root}
	freshStack(t, env, "redmine")

	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	up := mustRun(t, env, "up", "redmine", "--profile", "debian", "--listen", listen, "--timeout", "15m")
	rm := &redmine{t: t, base: strings.TrimSpace(up.stdout), password: readSecrets(t, filepath.Join(instanceState(t, state), "redmine", "secrets"))["admin_password"]}

	want := populate(t, rm)
	redmineID := service(t, api, redmineProject(t), "redmine")
	notes := "/usr/src/redmine/plugins/OPERATOR-NOTES.txt"
	execIn(t, api, redmineID, "sh", "-c", "echo 'patched the LDAP plugin by hand' > "+notes+
		" && chown 999:999 "+notes+" && chmod 640 "+notes+" && touch -d '2024-01-02 03:04:05' "+notes)
	notesHdr := tarHeader(t, api, redmineID, notes)
	checkAll := func(t *testing.T) {
		t.Helper()
		want.check(t, rm)
		got := tarHeader(t, api, activeRedmine(t, api), notes)
		if got.Uid != notesHdr.Uid || got.Gid != notesHdr.Gid || got.Mode != notesHdr.Mode || !got.ModTime.Equal(notesHdr.ModTime) || got.Size != notesHdr.Size {
			t.Fatalf("plugins file: %d:%d %o %s %d bytes, want %d:%d %o %s %d bytes", got.Uid, got.Gid, got.Mode, got.ModTime, got.Size,
				notesHdr.Uid, notesHdr.Gid, notesHdr.Mode, notesHdr.ModTime, notesHdr.Size)
		}
	}
	return populatedStack{api: api, env: env, listen: listen, rm: rm, checkAll: checkAll}
}

// TestBackupRestore populates Redmine, backs it up while a probe keeps asking
// for pages, refuses damaged and mismatched archives without changing anything,
// restores crafted dumps without their SQL running as a superuser (craftedDumps),
// survives a killed backup, restores beside the running stack and rolls back
// (see generations), removes every volume and restores them all.
func TestBackupRestore(t *testing.T) {
	shares(t)
	ps := newPopulatedStack(t)
	api, env, listen, rm, checkAll := ps.api, ps.env, ps.listen, ps.rm, ps.checkAll
	out := t.TempDir()

	// The backup, with a probe asking for a page every 100 ms throughout.
	probe := startProbe(rm.base + "login")
	bk := mustRun(t, env, "backup-volumes", "--out", out)
	requests, failures := probe.stop()
	t.Logf("probe during the backup: %d requests, %d failed", requests, len(failures))
	if len(failures) > 0 || requests < 5 {
		t.Errorf("probe: %d of %d requests failed during the backup: %v", len(failures), requests, failures)
	}
	arch := strings.TrimSpace(bk.stdout)
	if fi, err := os.Stat(arch); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive %s: %v, mode %v; want mode 0600", arch, err, fi.Mode())
	}
	v := mustRun(t, env, "verify-backup", arch)
	for _, entry := range []string{"db-data.pgdump", "redmine-files.tar", "redmine-plugins.tar"} {
		if !strings.Contains(v.stdout, entry) {
			t.Errorf("verify-backup does not list %s:\n%s", entry, v.stdout)
		}
	}

	// Refusals, each with the stack running and holding data: nothing may change.
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, _ := age.GenerateX25519Identity()
	keyFile, wrongKeyFile := filepath.Join(out, "key.txt"), filepath.Join(out, "wrong-key.txt")
	writePrivate(t, keyFile, []byte(id.String()+"\n"))
	writePrivate(t, wrongKeyFile, []byte(wrongKey.String()+"\n"))
	encrypted := strings.TrimSpace(mustRun(t, env, "backup-volumes", "--out", filepath.Join(out, "enc"), "--encrypt-to", id.Recipient().String()).stdout)
	mustRun(t, env, "verify-backup", "--identity", keyFile, encrypted)

	data, err := os.ReadFile(arch)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(out, "truncated.tar.zst")
	writeFile(t, truncated, string(data[:len(data)*3/4]))
	// The attachments are most of the archive: its middle is inside the files entry.
	flipped := filepath.Join(out, "flipped.tar.zst")
	damaged := bytes.Clone(data)
	damaged[len(damaged)/2] ^= 0x01
	writeFile(t, flipped, string(damaged))
	key := signingKeyOf(t, env)
	newer := rewrite(t, key, arch, filepath.Join(out, "newer.tar.zst"), func(m *archive.Manifest) { m.RedmineVersion = "99.0.0" })
	filesOnly := rewrite(t, key, arch, filepath.Join(out, "files-only.tar.zst"), func(m *archive.Manifest) {
		m.Entries = slices.DeleteFunc(m.Entries, func(e archive.Entry) bool { return e.Kind != archive.KindVolume || e.Volume != "redmine-files" })
	})

	// The same archive re-signed by a stranger, as anyone who can write to
	// the backup target could make it, and one not signed at all.
	stranger, _, err := signing.NewKey("mallory@elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	resigned := rewrite(t, stranger, arch, filepath.Join(out, "resigned.tar.zst"), func(*archive.Manifest) {})
	unsigned := rewrite(t, nil, arch, filepath.Join(out, "unsigned.tar.zst"), func(*archive.Manifest) {})
	fp := stranger.Public.Fingerprint()

	before := containerIDs(t, api, redmineProject(t))
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		mention string
		// dry: refused before anything changes, so by --dry-run too, alike.
		dry bool
	}{
		{"truncated", []string{"restore-volumes", "--yes", truncated}, 20, "its end holds no manifest: the archive is truncated", true},
		{"flipped byte in the files entry", []string{"restore-volumes", "--yes", flipped}, 20, "entry redmine-files.tar", false},
		{"wrong age key", []string{"restore-volumes", "--yes", "--identity", wrongKeyFile, encrypted}, 21, "none of the identities given opens it", true},
		{"no age key", []string{"restore-volumes", "--yes", encrypted}, 21, "--identity", true},
		{"another stack", []string{"restore-volumes", "--stack", "nginx", arch}, 22, "backup of stack redmine, not nginx", true},
		{"newer Redmine", []string{"restore-volumes", "--yes", newer}, 22, "Redmine 99.0.0, newer than the 6.0.5", true},
		{"stack has data, no terminal, no --yes", []string{"restore-volumes", arch}, 22, "pass --yes", false},
		{"only the files volume", []string{"restore-volumes", "--yes", filesOnly}, 22, "holds no db-data", true},
		{"re-signed by a stranger", []string{"restore-volumes", "--yes", resigned}, 31, "signed by key " + fp + " (it calls itself mallory@elsewhere), which is not trusted here", true},
		{"re-signed by a stranger, verified", []string{"verify-backup", resigned}, 31, "--trust-key " + fp, false},
		{"unsigned", []string{"restore-volumes", "--yes", unsigned}, 31, "not signed", true},
		{"unsigned, verified", []string{"verify-backup", unsigned}, 31, "--trust-unsigned", false},
	} {
		r := stackctl(t, env, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.mention) {
			t.Errorf("%s: exit %d, want %d with %q in:\n%s", tc.name, r.code, tc.code, tc.mention, r.stderr)
		}
		if tc.dry {
			if d := stackctl(t, env, append(tc.args, "--dry-run")...); d.code != tc.code || !strings.Contains(d.stderr, tc.mention) || d.stdout != "" {
				t.Errorf("%s, --dry-run: exit %d, want %d with %q in:\n%s\nand no plan:\n%s", tc.name, d.code, tc.code, tc.mention, d.stderr, d.stdout)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	if after := containerIDs(t, api, redmineProject(t)); after != before {
		t.Fatalf("a refused restore changed the stack's containers: %s -> %s", before, after)
	}
	checkAll(t)
	// Trusted explicitly, each is intact, and says who signed it.
	if v := mustRun(t, env, "verify-backup", "--trust-key", fp, resigned); !strings.Contains(v.stdout, "intact, signed by "+fp) {
		t.Errorf("verify-backup --trust-key: %s", v.stdout)
	}
	if v := mustRun(t, env, "verify-backup", "--trust-unsigned", unsigned); !strings.Contains(v.stdout, "intact, not signed") {
		t.Errorf("verify-backup --trust-unsigned: %s", v.stdout)
	}
	own := mustRun(t, env, "signing-key", "--json")
	var sk struct{ Fingerprint string }
	if err := json.Unmarshal([]byte(own.stdout), &sk); err != nil {
		t.Fatal(err)
	}
	if v := mustRun(t, env, "verify-backup", arch); !strings.Contains(v.stdout, "intact, signed by "+sk.Fingerprint) {
		t.Errorf("verify-backup of our own archive, whose key signing-key prints (%s): %s", sk.Fingerprint, v.stdout)
	}

	// Dumps an attacker made, restored with the archive trusted: nothing of them runs as a superuser.
	craftedDumps(t, api, env, arch, out, rm)

	// A backup killed halfway leaves no archive under a final name, and the stack serving.
	killed := filepath.Join(out, "killed")
	killBackup(t, env, killed)
	names, _ := backup.Archives(killed, "redmine")
	if len(names) > 0 {
		t.Fatalf("a killed backup left %v under a final name", names)
	}
	for _, s := range []string{"db", "redmine", "nginx"} {
		service(t, api, redmineProject(t), s)
	}
	rm.do("GET", "/projects.json", "", 200)
	mustRun(t, env, "backup-volumes", "--out", killed, "--keep", "1")
	if left, _ := filepath.Glob(filepath.Join(killed, ".*partial*")); len(left) > 0 {
		t.Errorf("the next backup did not clear the killed one's partial file: %v", left)
	}

	// Restores beside the running stack, rollback, prune, and the faults between.
	generations(t, api, env, rm, arch, encrypted, keyFile, out, checkAll)

	// A stopped stack with data: the restore's generation starts behind nginx,
	// whose choice of generation outlives down and names the one before.
	mustRun(t, env, "down", "redmine")
	plan := dryRunOf(t, env, projectRoot, "restore-volumes", arch)
	wantStepsLike(t, plan, [2]string{"start", "nginx and edge"}, [2]string{"point-front", fmt.Sprintf("generation %d", plan.Serves.Generation)})
	wantOutage(t, plan, "none")
	mustRun(t, env, "restore-volumes", "--yes", arch, "--timeout", "15m")
	checkAll(t)
	if got := activeGen(t, env); got != plan.Serves.Generation {
		t.Errorf("the restore into a stopped stack made generation %d active, the plan said %d", got, plan.Serves.Generation)
	}
	servesAsPlanned(t, api, plan)

	// Everything gone, every generation's volumes with it, then back from the archive.
	mustRun(t, env, "down", "redmine", "--volumes")
	for _, vol := range volumeNames(t, api) {
		if strings.HasPrefix(vol, redmineProject(t)+"_") {
			t.Fatalf("volume %s survived down --volumes", vol)
		}
	}
	plan = dryRunOf(t, env, projectRoot, "restore-volumes", arch, "--listen", listen)
	wantStepsLike(t, plan, [2]string{"make", "generation 1 (restore of " + arch + "), nothing serving yet"}, [2]string{"point-front", "generation 1"})
	restored := mustRun(t, env, "restore-volumes", arch, "--listen", listen, "--timeout", "15m")
	if got := strings.TrimSpace(restored.stdout); got != rm.base {
		t.Errorf("restore printed %q, want the stack's URL %s", got, rm.base)
	}
	checkAll(t)
	servesAsPlanned(t, api, plan)
	// The first-start configuration must not run again over the restored admin.
	mustRun(t, env, "up", "redmine")
	checkAll(t)
}

// TestOffsiteBackups backs a populated stack up to SFTP and S3 with restore
// tests, restores from there, applies retention, runs a schedule, and refuses
// targets that refuse us (see offsiteBackups): on a stack of its own, beside
// TestBackupRestore's.
func TestOffsiteBackups(t *testing.T) {
	shares(t)
	ps := newPopulatedStack(t)
	offsiteBackups(t, ps.api, ps.env, ps.rm, ps.checkAll)
}

// content is what populate created, to check after a restore.
type content struct {
	issues      map[int]string // id → subject
	attachments map[int][32]byte
	wiki        string
}

func populate(t *testing.T, rm *redmine) content {
	t.Helper()
	c := content{issues: map[int]string{}, attachments: map[int][32]byte{}}
	for _, p := range []string{"harbour", "lighthouse"} {
		rm.do("POST", "/projects.json", fmt.Sprintf(`{"project":{"name":"%s works","identifier":%q}}`, p, p), 201)
	}
	files := []struct {
		project, subject string
		size             int
		random           bool
	}{
		{"harbour", "Survey photos of the east basin", 22 << 20, true},
		{"harbour", "Tide tables 2026", 15 << 20, false},
		{"lighthouse", "Lens inspection video", 20 << 20, true},
	}
	for _, f := range files {
		body := make([]byte, f.size)
		if f.random {
			if _, err := rand.Read(body); err != nil {
				t.Fatal(err)
			}
		} else {
			line := []byte("2026-11-23 06:00 high water 4.21 m, low water 0.37 m, wind NW 4\n")
			for i := range body {
				body[i] = line[i%len(line)]
			}
		}
		var u struct{ Upload struct{ Token string } }
		rm.json(rm.doRaw("POST", "/uploads.json?filename=data.bin", "application/octet-stream", body, 201), &u)
		var issue struct{ Issue struct{ ID int } }
		rm.json(rm.do("POST", "/issues.json", fmt.Sprintf(`{"issue":{"project_id":%q,"subject":%q,
			"uploads":[{"token":%q,"filename":"data.bin","content_type":"application/octet-stream"}]}}`, f.project, f.subject, u.Upload.Token), 201), &issue)
		c.issues[issue.Issue.ID] = f.subject
		c.attachments[issue.Issue.ID] = sha256.Sum256(body)
	}
	c.wiki = "h1. Soundings\n\nDepths are in metres below chart datum."
	rm.do("PUT", "/projects/harbour/wiki/Soundings.json", fmt.Sprintf(`{"wiki_page":{"text":%q}}`, c.wiki), 201)
	return c
}

// check reads every record back through Redmine, and every attachment byte.
func (c content) check(t *testing.T, rm *redmine) {
	t.Helper()
	for id, subject := range c.issues {
		var got struct {
			Issue struct {
				Subject     string
				Attachments []struct {
					ContentURL string `json:"content_url"`
				}
			}
		}
		rm.json(rm.do("GET", fmt.Sprintf("/issues/%d.json?include=attachments", id), "", 200), &got)
		if got.Issue.Subject != subject || len(got.Issue.Attachments) != 1 {
			t.Fatalf("issue %d: %+v, want %q with one attachment", id, got.Issue, subject)
		}
		u, err := url.Parse(got.Issue.Attachments[0].ContentURL)
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(rm.do("GET", u.Path, "", 200)) != c.attachments[id] {
			t.Fatalf("issue %d: the attachment Redmine serves differs from the one uploaded", id)
		}
	}
	var wiki struct {
		WikiPage struct{ Text string } `json:"wiki_page"`
	}
	rm.json(rm.do("GET", "/projects/harbour/wiki/Soundings.json", "", 200), &wiki)
	if wiki.WikiPage.Text != c.wiki {
		t.Fatalf("wiki page: %q, want %q", wiki.WikiPage.Text, c.wiki)
	}
}

// tarHeader reads a file's owner, mode, time and size as the engine archives it.
func tarHeader(t *testing.T, api client.APIClient, id, path string) *tar.Header {
	t.Helper()
	res, err := api.CopyFromContainer(context.Background(), id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Content.Close()
	hdr, err := tar.NewReader(res.Content).Next()
	if err != nil {
		t.Fatal(err)
	}
	return hdr
}

type probe struct {
	done     chan struct{}
	finished chan struct{}
	requests atomic.Int64
	failures []string
	// marker, when set, is looked for in every answer: a 200 holding it or
	// not, or a 404 (the page missing from the data served), is an answer
	// noted in answers; anything else a failure.
	marker  string
	answers []bool
	// maintenance, when set, takes our maintenance page (HTTP 503) as an
	// answer, counted in closed.
	maintenance bool
	closed      int
}

// startProbe asks for url every 100 ms until stopped, recording every failure
// (anything but a 200).
func startProbe(url string) *probe { return startMarkerProbe(url, "") }

// startMarkerProbe is startProbe noting, for each answer, whether it held marker.
func startMarkerProbe(url, marker string) *probe {
	return newProbe(&http.Client{Timeout: 5 * time.Second}, url, marker, false)
}

// startMaintenanceProbe is startProbe taking our maintenance page as an answer.
func startMaintenanceProbe(url string) *probe {
	return newProbe(&http.Client{Timeout: 5 * time.Second}, url, "", true)
}

// startClientProbe is startProbe asking with client (one that trusts a test CA).
func startClientProbe(client *http.Client, url string) *probe {
	return newProbe(client, url, "", false)
}

func newProbe(client *http.Client, url, marker string, maintenance bool) *probe {
	p := &probe{done: make(chan struct{}), finished: make(chan struct{}), marker: marker, maintenance: maintenance}
	go func() {
		defer close(p.finished)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
			p.requests.Add(1)
			resp, err := client.Get(url)
			if err != nil {
				p.failures = append(p.failures, err.Error())
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case p.maintenance && resp.StatusCode == http.StatusServiceUnavailable && bytes.Contains(body, []byte("down for maintenance")) &&
				resp.Header.Get("Retry-After") != "":
				p.closed++
			case resp.StatusCode == http.StatusOK && p.marker != "":
				p.answers = append(p.answers, bytes.Contains(body, []byte(p.marker)))
			case resp.StatusCode == http.StatusNotFound && p.marker != "":
				p.answers = append(p.answers, false)
			case resp.StatusCode != http.StatusOK:
				p.failures = append(p.failures, resp.Status)
			}
		}
	}()
	return p
}

func (p *probe) stop() (int64, []string) {
	// At least ten requests, a second's worth: on a busy machine a change
	// that ends fast is still probed around, its end included.
	for deadline := time.Now().Add(time.Minute); p.requests.Load() < 10 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	close(p.done)
	<-p.finished
	return p.requests.Load(), p.failures
}

// rewrite copies the archive src to dst with its manifest edited, as a tool
// of another version or a tampering hand would write it, checksums and all,
// signed with key; entries the edit removes are left out.
func rewrite(t *testing.T, key *signing.Key, src, dst string, edit func(*archive.Manifest)) string {
	t.Helper()
	return copyArchive(t, key, src, dst, edit, nil)
}

// signingKeyOf is the key the stackctl of env signs its archives with: to
// sign an archive a test rewrites as stackctl itself would.
func signingKeyOf(t *testing.T, env []string) *signing.Key {
	t.Helper()
	var dir, instance string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "STACKCTL_STATE_DIR="); ok {
			dir = v
		}
		if v, ok := strings.CutPrefix(kv, "STACKCTL_INSTANCE="); ok {
			instance = v
		}
	}
	if instance != "" {
		dir = filepath.Join(dir, "instances", instance)
	}
	k, err := state.LoadSigningKey(filepath.Join(dir, state.SigningKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// copyArchive copies the archive src to dst with its manifest edited and the
// named entries' content replaced, signed with key (nil: unsigned); entries
// the edit removes are left out.
func copyArchive(t *testing.T, key *signing.Key, src, dst string, edit func(*archive.Manifest), replace map[string]func([]byte) []byte) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := archive.NewReader(in, archive.ReadOptions{Trust: signing.AnySigner()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m := r.Header()
	edit(&m)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w, err := archive.NewWriter(out, m, key)
	if err != nil {
		t.Fatal(err)
	}
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(m.Entries, func(k archive.Entry) bool { return k.Name == e.Name }) {
			continue
		}
		var content io.Reader = r
		if fn := replace[e.Name]; fn != nil {
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			content = bytes.NewReader(fn(b))
		}
		if _, err := w.Add(e.Name, content); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// killBackup starts a backup into dir and kills it with SIGKILL once its partial
// archive has grown past a few megabytes.
func killBackup(t *testing.T, env []string, dir string) {
	t.Helper()
	cmd := exec.Command(bin, "backup-volumes", "--out", dir)
	cmd.Dir = projectRoot
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		partial, _ := filepath.Glob(filepath.Join(dir, ".*partial*"))
		if len(partial) == 1 {
			if fi, err := os.Stat(partial[0]); err == nil && fi.Size() > 4<<20 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the backup finished before it could be killed (%v): make the data larger", err)
	}
	partial, _ := filepath.Glob(filepath.Join(dir, ".*partial*"))
	t.Logf("killed the backup; it left %v", partial)
}
