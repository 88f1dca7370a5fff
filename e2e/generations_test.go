package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/signing"
)

// generations takes the populated, backed-up stack of TestBackupRestore
// through restores beside it, rollback and prune, and through every fault a
// restore must survive: each fault ends with the generation that served
// before still active, serving, and byte-identical, and no trace of the new one.
func generations(t *testing.T, api client.APIClient, env []string, rm *redmine, arch, encrypted, keyFile, out string, checkAll func(*testing.T)) {
	// Data the archive does not have: the restore hides it, the rollback brings it back.
	var later struct{ Issue struct{ ID int } }
	rm.json(rm.do("POST", "/issues.json", `{"issue":{"project_id":"harbour","subject":"Written after the backup"}}`, 201), &later)
	laterPath := fmt.Sprintf("/issues/%d.json", later.Issue.ID)
	// unchanged checks that generation 1 serves, byte-identical, and, when
	// gone is set, that nothing of generation gone is left.
	var serves func(t *testing.T, why string, active, gone int)
	unchanged := func(t *testing.T, why string, gone int) {
		t.Helper()
		serves(t, why, 1, gone)
	}
	// serves checks that generation active serves the data, byte-identical,
	// that written after the backup included, and, when gone is set, that
	// nothing of generation gone is left.
	serves = func(t *testing.T, why string, active, gone int) {
		t.Helper()
		if got := activeGen(t, env); got != active {
			t.Fatalf("after %s: generation %d is active, want %d", why, got, active)
		}
		checkAll(t)
		rm.do("GET", laterPath, "", 200)
		if gone == 0 {
			return
		}
		for _, v := range volumeNames(t, api) {
			if strings.HasPrefix(v, redmineProject(t)+"_") && strings.HasSuffix(v, fmt.Sprintf("-g%d", gone)) {
				t.Fatalf("after %s: volume %s of the failed generation is left", why, v)
			}
		}
		if ids := containerIDs(t, api, redmineProject(t)); strings.Count(ids, ",")+1 != 4 {
			t.Fatalf("after %s: the stack has containers %s, want db, redmine, edge and nginx only", why, ids)
		}
	}

	// Faults before the switch: each leaves generation 1 serving as it was.
	key := signingKeyOf(t, env)
	badDump := rebuild(t, key, arch, out+"/bad-dump.tar.zst", map[string]func([]byte) []byte{
		"db-data.pgdump": func([]byte) []byte { return []byte("PGDMP this is no dump pg_restore can read\n") },
	})
	r := stackctl(t, env, "restore-volumes", "--yes", badDump)
	if r.code == 0 || !strings.Contains(r.stderr, "pg_restore") {
		t.Errorf("a dump pg_restore rejects: exit %d, want a failure naming pg_restore:\n%s", r.code, r.stderr)
	}
	unchanged(t, "a dump pg_restore rejects", 2)

	// Too little room: the next generation's files volume, made beforehand on
	// a 16 MiB tmpfs. With the signed manifest read from the archive's end,
	// the restore refuses before writing, with the numbers; an encrypted
	// archive's too, whose end is decrypted alone: the issue's archive, a few
	// hundred KiB that expand to a 4 GiB file of zeros. (An unsigned
	// encrypted archive's sizes are unknown until it is read: the file's tar
	// header refuses it then, as internal/backup's room tests show.)
	small := func() {
		t.Helper()
		_, err := api.VolumeCreate(t.Context(), client.VolumeCreateOptions{Name: redmineProject(t) + "_redmine-files-g2", Driver: "local",
			DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=16m"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	small()
	r = stackctl(t, env, "restore-volumes", "--yes", arch)
	if r.code != 22 || !strings.Contains(r.stderr, "not enough room for generation 2") || !strings.Contains(r.stderr, "redmine-files-g2") {
		t.Errorf("a restore into too small a volume: exit %d, want 22 naming the room and the volume:\n%s", r.code, r.stderr)
	}
	unchanged(t, "a restore refused for want of room", 2)
	bomb := expanding(t, key, encrypted, out+"/zeros.tar.zst.age", keyFile, 4<<30)
	small()
	r = stackctl(t, env, "restore-volumes", "--yes", "--identity", keyFile, bomb)
	for _, says := range []string{"not enough room for generation 2", "redmine-files-g2"} {
		if r.code != 22 || !strings.Contains(r.stderr, says) {
			t.Errorf("an encrypted archive that expands past the room: exit %d, want 22 saying %q:\n%s", r.code, says, r.stderr)
		}
	}
	unchanged(t, "an encrypted archive refused for want of room", 2)

	broken := rebuild(t, key, arch, out+"/broken-plugin.tar.zst", map[string]func([]byte) []byte{
		"redmine-plugins.tar": func(b []byte) []byte {
			return addToTar(t, b, "./stackctl_broken/init.rb", "raise 'a plugin that breaks the boot, on purpose'\n")
		},
	})
	r = stackctl(t, env, "restore-volumes", "--yes", "--timeout", "3m", broken)
	if r.code == 0 {
		t.Errorf("a generation that never gets healthy: exit 0, want a failure:\n%s", r.stderr)
	}
	unchanged(t, "a generation that never gets healthy", 2)

	for _, at := range []string{"db-data.pgdump", "redmine-files.tar"} {
		killAt(t, env, "restore redmine: "+at, "restore-volumes", "--yes", arch)
		// A killed restore left behind: the next restore's plan removes it
		// first, and makes generation 2 again.
		left := dryRunOf(t, env, projectRoot, "restore-volumes", arch)
		wantStepsLike(t, left, [2]string{"remove", "generation 2 (restore of "}, [2]string{"make", "generation 2 (restore of " + arch + "), beside generation 1"})
		next := mustRun(t, env, "up", "redmine")
		if !strings.Contains(next.stderr, "removing generation 2") {
			t.Errorf("the command after a restore killed while writing %s does not say it removes generation 2:\n%s", at, next.stderr)
		}
		unchanged(t, "a restore killed while writing "+at, 2)
	}

	// The restore, beside the running stack: a probe every 100 ms sees the old
	// data until the switch and the restored data after it, and never a failure.
	plan := dryRunOf(t, env, projectRoot, "restore-volumes", arch)
	wantStepsLike(t, plan, [2]string{"make", "generation 2 (restore of " + arch + "), beside generation 1, which keeps serving"},
		[2]string{"point-front", "generation 2"}, [2]string{"stop", "generation 1 (db, redmine"})
	wantOutage(t, plan, "none")
	p := startMarkerProbe(rm.base+strings.TrimPrefix(laterPath, "/"), "Written after the backup")
	start := time.Now()
	mustRun(t, env, "restore-volumes", "--yes", arch)
	p.check(t, "the restore", true)
	t.Logf("restore beside the running stack: %s", time.Since(start).Round(100*time.Millisecond))
	if got := activeGen(t, env); got != 2 || got != plan.Serves.Generation {
		t.Fatalf("after the restore generation %d is active, want 2, as the plan said (%d)", got, plan.Serves.Generation)
	}
	servesAsPlanned(t, api, plan)
	checkAll(t)
	rm.do("GET", laterPath, "", 404)

	// Rollback: the data written after the backup is back, again without a failure.
	plan = dryRunOf(t, env, projectRoot, "rollback", "redmine")
	wantStepsLike(t, plan, [2]string{"start", "generation 1 (db, redmine"}, [2]string{"check", "redmine"},
		[2]string{"point-front", "generation 1"}, [2]string{"stop", "generation 2 (db-g2, redmine-g2)"})
	wantOutage(t, plan, "none")
	p = startMarkerProbe(rm.base+strings.TrimPrefix(laterPath, "/"), "Written after the backup")
	// --json: the result on stdout, and every line on stderr an event.
	rolled := jsonResult(t, mustRun(t, env, "rollback", "redmine", "--json"), "rollback")
	p.check(t, "the rollback", false)
	unchanged(t, "the rollback", 0)
	servesAsPlanned(t, api, plan)
	if rolled["generation"] != float64(plan.Serves.Generation) || rolled["url"] == "" {
		t.Errorf("rollback --json printed %v: want generation %d and the url", rolled, plan.Serves.Generation)
	}

	// Killed during the switch: the next command finishes or undoes it, and says which.
	killAt(t, env, "switching from generation 1 to 3", "restore-volumes", "--yes", arch)
	// The switch left behind comes first in a rollback's plan.
	wantStepsLike(t, dryRunOf(t, env, projectRoot, "rollback", "redmine"), [2]string{"recover", "the switch from generation 1 to 3"})
	next := mustRun(t, env, "up", "redmine")
	switch {
	case strings.Contains(next.stderr, "finishing the switch from generation 1 to 3"):
		t.Log("the next command finished the switch the killed restore left")
		if activeGen(t, env) != 3 {
			t.Fatalf("the switch was finished, but generation %d is active", activeGen(t, env))
		}
		checkAll(t)
		rm.do("GET", laterPath, "", 404)
		back := dryRunOf(t, env, projectRoot, "rollback", "redmine", "--to", "1")
		wantSteps(t, back, false, [2]string{"point-front", "generation 1"}, [2]string{"stop", "generation 3 (db-g3, redmine-g3)"})
		mustRun(t, env, "rollback", "redmine", "--to", "1")
		servesAsPlanned(t, api, back)
	case strings.Contains(next.stderr, "undoing the switch from generation 1 to 3"):
		t.Log("the next command undid the switch the killed restore left")
	default:
		t.Fatalf("the command after a restore killed during its switch says neither that it finishes nor that it undoes it:\n%s", next.stderr)
	}
	unchanged(t, "a restore killed during its switch", 0)

	// --only: the attachments from an archive that holds nothing else; the
	// database (with what was written after the backup) and the plugins are
	// copied from the active generation.
	filesOnly := out + "/files-only.tar.zst"
	plan = dryRunOf(t, env, projectRoot, "restore-volumes", "--only", "redmine-files", filesOnly)
	suffix := fmt.Sprintf("-g%d", plan.Serves.Generation)
	wantSteps(t, plan, false, [2]string{"copy", "volume " + redmineProject(t) + "_db-data" + suffix},
		[2]string{"fill", "volume " + redmineProject(t) + "_redmine-files" + suffix},
		[2]string{"copy", "volume " + redmineProject(t) + "_redmine-plugins" + suffix})
	mustRun(t, env, "restore-volumes", "--yes", "--only", "redmine-files", filesOnly)
	only := activeGen(t, env)
	if only == 1 {
		t.Fatal("restore-volumes --only did not make a new generation active")
	}
	if only != plan.Serves.Generation {
		t.Errorf("restore-volumes --only made generation %d active, the plan said %d", only, plan.Serves.Generation)
	}
	serves(t, "restore-volumes --only", only, 0)
	servesAsPlanned(t, api, plan)

	// generations lists them; prune removes exactly what it lists.
	var gens []struct {
		N       int
		Active  bool
		Made    string
		Volumes []string
		Size    int64
	}
	if err := json.Unmarshal([]byte(mustRun(t, env, "generations", "redmine", "--json").stdout), &gens); err != nil {
		t.Fatal(err)
	}
	if len(gens) < 3 || gens[0].N != 1 || !gens[len(gens)-1].Active || gens[1].Made != "restore" || gens[0].Size <= 50<<20 {
		t.Fatalf("generations: %+v", gens)
	}
	kept := gens[len(gens)-1]
	dry := mustRun(t, env, "prune", "redmine", "--keep", "1", "--dry-run")
	pruned := mustRun(t, env, "prune", "redmine", "--keep", "1", "--yes")
	if pruned.stdout != dry.stdout {
		t.Errorf("prune listed\n%s\nbut its dry run listed\n%s", pruned.stdout, dry.stdout)
	}
	for _, g := range gens[:len(gens)-1] {
		if !strings.Contains(pruned.stdout, fmt.Sprintf("generation %d ", g.N)) {
			t.Errorf("prune --keep 1 does not list generation %d:\n%s", g.N, pruned.stdout)
		}
		for _, v := range g.Volumes {
			if !strings.Contains(pruned.stdout, v) {
				t.Errorf("prune does not list volume %s", v)
			}
			if _, err := api.VolumeInspect(t.Context(), v, client.VolumeInspectOptions{}); err == nil {
				t.Errorf("volume %s survived the prune that listed it", v)
			}
		}
	}
	for _, v := range kept.Volumes {
		if _, err := api.VolumeInspect(t.Context(), v, client.VolumeInspectOptions{}); err != nil {
			t.Errorf("prune removed volume %s of the active generation: %v", v, err)
		}
	}
	serves(t, "the prune", kept.N, 0)
}

// activeRedmine is the running Redmine container of whichever generation and slot serves.
func activeRedmine(t *testing.T, api client.APIClient) string {
	t.Helper()
	return runningOne(t, api, "Redmine", func(s string) bool { return s == "redmine" || strings.HasPrefix(s, "redmine-") })
}

// runningOne is the ID of the one running container of the Redmine stack
// whose service name matches (what names it in a failure).
func runningOne(t testing.TB, api client.APIClient, what string, match func(service string) bool) string {
	t.Helper()
	res, err := api.ContainerList(context.Background(), client.ContainerListOptions{
		Filters: client.Filters{}.Add("label", "com.docker.compose.project="+redmineProject(t)),
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range res.Items {
		if match(c.Labels["com.docker.compose.service"]) {
			ids = append(ids, c.ID)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("running %s containers: %d, want 1", what, len(ids))
	}
	return ids[0]
}

// activeGen is the generation stackctl says is active.
func activeGen(t *testing.T, env []string) int {
	t.Helper()
	var gens []struct {
		N      int
		Active bool
	}
	if err := json.Unmarshal([]byte(mustRun(t, env, "generations", "redmine", "--json").stdout), &gens); err != nil {
		t.Fatal(err)
	}
	for _, g := range gens {
		if g.Active {
			return g.N
		}
	}
	t.Fatalf("no generation is active: %+v", gens)
	return 0
}

// killAt runs stackctl and SIGKILLs it as soon as it prints a line holding at.
func killAt(t *testing.T, env []string, at string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = projectRoot
	// stackctl kills itself right after it prints at: exactly there, however
	// late this test would read the line on a busy machine.
	cmd.Env = append(append(os.Environ(), env...), "STACKCTL_KILL_AT="+at)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	sc := bufio.NewScanner(stderr)
	printed := false
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), at) {
			printed = true
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !printed || !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("stackctl %v ended (%v) without being killed after printing %q:\n%s", args, err, at, seen.String())
	}
	t.Logf("killed stackctl %s at %q", strings.Join(args, " "), at)
}

// check stops the probe and asserts no request failed and the answers
// switched once, from having the marker to lacking it (or back, with !from).
func (p *probe) check(t *testing.T, what string, from bool) {
	t.Helper()
	requests, failures := p.stop()
	switches := 0
	for i := 1; i < len(p.answers); i++ {
		if p.answers[i] != p.answers[i-1] {
			switches++
		}
	}
	t.Logf("probe during %s: %d requests, %d failed, %d answers, switched %d time(s)", what, requests, len(failures), len(p.answers), switches)
	if len(failures) > 0 || requests < 10 {
		t.Errorf("probe: %d of %d requests failed during %s: %v", len(failures), requests, what, failures)
	}
	if len(p.answers) == 0 || p.answers[0] != from || p.answers[len(p.answers)-1] == from || switches != 1 {
		t.Errorf("probe during %s: the answers did not switch once from the data before to the data after: %v", what, p.answers)
	}
}

// rebuild copies the archive src to dst with the named entries' content
// replaced, checksums and sizes written anew, as a tool would write them.
func rebuild(t *testing.T, key *signing.Key, src, dst string, replace map[string]func([]byte) []byte) string {
	t.Helper()
	return copyArchive(t, key, src, dst, func(*archive.Manifest) {}, replace)
}

// expanding copies the encrypted archive src to dst, encrypted to the same
// identity (in keyFile), with the files volume's entry replaced by a tar
// stream holding one file of size bytes of zeros: they compress to almost
// nothing, so the archive stays small and expands to size. Nothing of that
// size is held in memory or on disk.
func expanding(t *testing.T, key *signing.Key, src, dst, keyFile string, size int64) string {
	t.Helper()
	idFile, err := os.Open(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := age.ParseIdentities(idFile)
	idFile.Close()
	if err != nil {
		t.Fatal(err)
	}
	id, ok := ids[0].(*age.X25519Identity)
	if !ok {
		t.Fatalf("%s holds no X25519 identity", keyFile)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := archive.NewReader(in, archive.ReadOptions{Identities: []age.Identity{id}, Trust: signing.AnySigner()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	enc, err := age.Encrypt(out, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	m := r.Header()
	w, err := archive.NewWriter(enc, m, key)
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
		var content io.Reader = r
		if e.Volume == "redmine-files" {
			pr, pw := io.Pipe()
			go func() {
				tw := tar.NewWriter(pw)
				err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755, Uid: 999, Gid: 999, ModTime: m.Created})
				if err == nil {
					err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "./zeros", Mode: 0o644, Uid: 999, Gid: 999, ModTime: m.Created, Size: size})
				}
				if err == nil {
					_, err = io.Copy(tw, io.LimitReader(zeroReader{}, size))
				}
				if err == nil {
					err = tw.Close()
				}
				pw.CloseWithError(err)
			}()
			content = pr
		}
		if _, err := w.Add(e.Name, content); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := out.Stat(); err == nil {
		t.Logf("%s: %d KiB, of which the files entry expands to %d MiB", dst, fi.Size()>>10, size>>20)
	}
	return dst
}

// zeroReader reads as zeros, forever.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// addToTar returns the tar stream b with a file (and its directory) added,
// owned by Redmine's uid.
func addToTar(t *testing.T, b []byte, name, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	dir := name[:strings.LastIndex(name, "/")+1]
	now := time.Now()
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, Uid: 999, Gid: 999, ModTime: now},
		{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Uid: 999, Gid: 999, ModTime: now, Size: int64(len(content))},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := io.WriteString(tw, content); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
