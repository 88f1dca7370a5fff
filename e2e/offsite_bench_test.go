package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/offsite/offsitetest"
)

// BenchmarkOffsiteBackup backs up a Redmine stack whose files volume holds
// 1 GiB (64 files of 8 MiB random bytes and 64 of 8 MiB base64 text, like
// attachments and exports) to SFTP (Debian's sshd) and S3 (versitygw in this
// process) on loopback, with stackctl, and, in the same run on the same data,
// the way an operator would without it: 'tar czf - | ssh host "cat > f"',
// and 'tar czf' then one PUT of the archive with curl's SigV4 (a plain S3
// client). MB/s of the volume's content:
//
//	STACKCTL_E2E=1 go test ./e2e -run '^$' -bench OffsiteBackup -benchtime 1x
func BenchmarkOffsiteBackup(b *testing.B) {
	api := dockerAPI(b)
	for _, tool := range []string{"ssh", "curl", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("%s is needed: apt-get install openssh-client curl tar", tool)
		}
	}
	state := b.TempDir()
	root, err := projectRoot, error(nil)
	if err != nil {
		b.Fatal(err)
	}
	env := []string{instanceEnv(b), "STACKCTL_STATE_DIR=" + state, "STACKCTL_DIR=" + root}
	run := func(args ...string) string {
		b.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = projectRoot
		cmd.Env = append(os.Environ(), env...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			b.Fatalf("stackctl %v: %v\n%s", args, err, errb.String())
		}
		return strings.TrimSpace(out.String())
	}
	shell := func(script string) {
		b.Helper()
		if out, err := exec.Command("bash", "-c", "set -o pipefail; "+script).CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", script, err, out)
		}
	}
	run("down", "redmine", "--volumes")
	b.Cleanup(func() {
		cmd := exec.Command(bin, "down", "redmine", "--volumes")
		cmd.Dir, cmd.Env = projectRoot, append(os.Environ(), env...)
		cmd.Run()
	})
	run("up", "redmine", "--profile", "debian", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(b)), "--timeout", "20m")

	id := containerOf(b, api, "redmine")
	fill := `cd /usr/src/redmine/files && for i in $(seq 0 63); do head -c 8M /dev/urandom > photo-$i.bin; ` +
		`head -c 6M /dev/urandom | base64 -w0 | head -c 8M > export-$i.txt; done && chown 999:999 * && sync`
	execIn(b, api, id, "bash", "-c", fill)
	vol, err := api.VolumeInspect(context.Background(), redmineProject(b)+"_redmine-files", client.VolumeInspectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	data := vol.Volume.Mountpoint

	sftp := offsitetest.StartSFTP(b)
	s3 := offsitetest.StartS3(b)
	if err := os.MkdirAll(filepath.Join(sftp.Dir, "stackctl"), 0o700); err != nil {
		b.Fatal(err)
	}
	host, port := strings.Split(sftp.Addr, ":")[0], strings.Split(sftp.Addr, ":")[1]
	ssh := fmt.Sprintf("ssh -i %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes -p %s %s@%s",
		sftp.Identity, sftp.KnownHosts, port, sftp.User, host)
	local := b.TempDir()
	for _, c := range []struct {
		name string
		do   func(i int)
	}{
		{"stackctl-sftp", func(int) { run("backup-volumes", "--to", sftp.URL("stackctl")) }},
		{"stackctl-s3", func(int) { run("backup-volumes", "--to", s3.URL("stackctl")) }},
		{"tar-czf-ssh", func(i int) {
			shell(fmt.Sprintf("mkdir -p %s/plain && tar czf - -C %s . | %s 'cat > %s/plain/files-%d.tar.gz'", sftp.Dir, data, ssh, sftp.Dir, i))
		}},
		{"tar-czf-then-curl-s3", func(i int) {
			file := filepath.Join(local, fmt.Sprintf("files-%d.tar.gz", i))
			shell(fmt.Sprintf("tar czf %s -C %s . && curl -sS --fail --aws-sigv4 aws:amz:us-east-1:s3 -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --user %s:%s -T %s %s/%s/plain/files-%d.tar.gz && rm %s",
				file, data, s3.Access, s3.Secret, file, s3.Endpoint, s3.Bucket, i, file))
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(1 << 30)
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				c.do(i)
				b.ReportMetric(time.Since(start).Seconds(), "s/backup")
			}
		})
	}
}

// containerOf is the ID of the running container of the Redmine stack's service.
func containerOf(b *testing.B, api client.APIClient, name string) string {
	b.Helper()
	res, err := api.ContainerList(context.Background(), client.ContainerListOptions{
		Filters: client.Filters{}.Add("label", "com.docker.compose.project="+redmineProject(b)).Add("label", "com.docker.compose.service="+name),
	})
	if err != nil || len(res.Items) != 1 {
		b.Fatalf("running containers of %s: %v (%d)", name, err, len(res.Items))
	}
	return res.Items[0].ID
}
