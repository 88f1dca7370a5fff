package offsite

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite/offsitetest"
)

// TestS3Credentials checks targets on a real S3 server with each way of giving
// credentials, and a missing bucket: each refusal is its sentinel with a message
// naming the target.
func TestS3Credentials(t *testing.T) {
	srv := offsitetest.StartS3(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("[backup]\naws_access_key_id = "+srv.Access+"\naws_secret_access_key = "+srv.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The same keys in a file others may read, and behind a link: refused as any secret file.
	openCreds, linkedCreds := filepath.Join(dir, "open-credentials"), filepath.Join(dir, "linked-credentials")
	content, _ := os.ReadFile(creds)
	if err := os.WriteFile(openCreds, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(openCreds, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(creds, linkedCreds); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		env    map[string]string
		bucket string
		opts   map[string]string
		want   error
		says   string
	}{
		{name: "keys in the environment"},
		{name: "credentials file and profile", env: map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, opts: map[string]string{"credentials-file": creds, "profile": "backup"}},
		{name: "shared credentials file from the environment", env: map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SHARED_CREDENTIALS_FILE": creds, "AWS_PROFILE": "backup"}},
		{name: "wrong secret", env: map[string]string{"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, want: ErrAuth, says: "refused the credentials (access key " + srv.Access + ")"},
		{name: "unknown access key", env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIAUNKNOWN"}, want: ErrAuth, says: "refused the credentials"},
		{name: "no credentials", env: map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, want: ErrAuth, says: "no S3 credentials"},
		{name: "profile missing from the credentials file", opts: map[string]string{"credentials-file": creds, "profile": "other"}, want: ErrAuth, says: "credentials file " + creds},
		{name: "credentials file open to others", env: map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, opts: map[string]string{"credentials-file": openCreds, "profile": "backup"},
			want: errs.ErrInvalidInput, says: "credentials-file: " + openCreds + " is open to others (mode -rw-r--r--): chmod 600 " + openCreds},
		{name: "credentials file a symbolic link", env: map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, opts: map[string]string{"credentials-file": linkedCreds, "profile": "backup"},
			want: errs.ErrInvalidInput, says: "credentials-file: " + linkedCreds + " is a symbolic link"},
		{name: "missing bucket", bucket: "no-such-bucket", want: errs.ErrNotFound, says: "bucket no-such-bucket does not exist at " + srv.Endpoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			checkTarget(t, s3URL(srv, tc.bucket, srv.Endpoint, tc.opts), tc.want, tc.says)
		})
	}
	t.Run("nothing listens", func(t *testing.T) {
		endpoint := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(offsitetest.FreePort(t)))
		checkTarget(t, s3URL(srv, "", endpoint, nil), errs.ErrUnavailable, "cannot reach the S3 server at "+endpoint)
	})
}

func s3URL(srv *offsitetest.S3, bucket, endpoint string, opts map[string]string) string {
	if bucket == "" {
		bucket = srv.Bucket
	}
	q := url.Values{"endpoint": {endpoint}, "path-style": {"true"}}
	for k, v := range opts {
		q.Set(k, v)
	}
	return "s3://" + bucket + "/creds?" + q.Encode()
}

// TestS3ReadChecksDamage changes a byte of an archive on the server's disk: a
// read through the target fails at the end of the stream, by the CRC-64/NVME
// the server recorded on upload.
func TestS3ReadChecksDamage(t *testing.T) {
	srv := offsitetest.StartS3(t)
	target, err := Parse(srv.URL("damaged"))
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	upload(t, target, redmineArchive, payload(17<<20, 7))
	f, err := os.OpenFile(filepath.Join(srv.Root, srv.Bucket, "damaged", redmineArchive), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff}, 9<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := target.Open(context.Background(), redmineArchive)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.Copy(io.Discard, r); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("reading the damaged archive: %v, want a checksum mismatch", err)
	}
}
