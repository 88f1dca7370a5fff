package offsitetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
)

// S3 is versitygw serving S3 on a loopback port from a temporary directory
// (its posix backend), with one account, and one bucket made.
type S3 struct {
	// Endpoint is http://127.0.0.1:<port>.
	Endpoint string
	Bucket   string
	// Access and Secret are the account's keys; StartS3 puts them in the
	// environment, where a target finds them.
	Access, Secret string
	// Root is the backend's directory: each bucket a directory in it.
	Root string

	t      testing.TB
	addr   string
	client *s3.Client
	cancel context.CancelFunc
	done   chan struct{} // closed when the server has stopped
	err    error         // why it stopped
}

// StartS3 starts the server, makes the bucket and sets AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (and empties the other AWS_ variables a target reads) for
// the test; it stops the server when the test ends. versitygw runs one server
// per process, and its backend changes the process's working directory to
// Root (restored when the test ends): a test running beside it must use
// absolute paths only. The variables are the process's until then too.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	root := t.TempDir()
	if err := (meta.XattrMeta{}).Test(root); err != nil {
		skipOrFail(t, "versitygw keeps metadata in extended attributes: %v", err)
	}
	var secret [16]byte
	rand.Read(secret[:])
	s := &S3{Bucket: "stackctl-backups", Access: "stackctl-test", Secret: hex.EncodeToString(secret[:]), Root: root, t: t}
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
	s.Endpoint = "http://" + s.addr
	if wd, err := os.Getwd(); err == nil {
		t.Cleanup(func() { os.Chdir(wd) })
	}
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           s.Access,
		"AWS_SECRET_ACCESS_KEY":       s.Secret,
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_S3":         "",
		"AWS_CONFIG_FILE":             none,
		"AWS_SHARED_CREDENTIALS_FILE": none,
	} {
		setenv(t, k, v)
	}
	s.Start()
	t.Cleanup(s.Stop)
	s.client = s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       "us-east-1",
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.Access, s.Secret, ""),
	})
	if _, err := s.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &s.Bucket}); err != nil {
		t.Fatalf("making bucket %s: %v", s.Bucket, err)
	}
	return s
}

// URL is the target URL of prefix in the bucket, with the options this server needs.
func (s *S3) URL(prefix string) string {
	q := url.Values{"endpoint": {s.Endpoint}, "path-style": {"true"}, "region": {"us-east-1"}}
	return fmt.Sprintf("s3://%s/%s?%s", s.Bucket, prefix, q.Encode())
}

// Start starts the server, on the same port and directory after a Stop, and
// waits until it listens.
func (s *S3) Start() {
	s.t.Helper()
	be, err := posix.New(s.Root, meta.XattrMeta{}, posix.PosixOpts{})
	if err != nil {
		s.t.Fatalf("versitygw's posix backend over %s: %v", s.Root, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.cancel, s.done = cancel, done
	go func() {
		s.err = embedgw.RunVersityGW(ctx, be, &embedgw.Config{
			RootUserAccess:    s.Access,
			RootUserSecret:    s.Secret,
			Ports:             []string{s.addr},
			MaxConnections:    256,
			MaxRequests:       256,
			MultipartMaxParts: 10000,
			Quiet:             true,
		})
		close(done)
	}()
	waitListening(s.t, s.addr, done, stringer(func() string { return fmt.Sprint(s.err) }))
}

// Stop stops the server, cutting off requests that do not end within its grace
// period (10s): an upload in progress fails.
func (s *S3) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Errorf("versitygw did not stop within 30s")
	}
	s.cancel = nil
}

// Objects lists the keys of the objects under prefix.
func (s *S3) Objects(prefix string) []string {
	s.t.Helper()
	out, err := s.client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &s.Bucket, Prefix: &prefix})
	if err != nil {
		s.t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// Uploads lists the keys of the multipart uploads in progress under prefix.
func (s *S3) Uploads(prefix string) []string {
	s.t.Helper()
	out, err := s.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &s.Bucket, Prefix: &prefix})
	if err != nil {
		s.t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

type stringer func() string

func (f stringer) String() string { return f() }

// setenv sets key to value until t ends. Not t.Setenv: a test that runs in
// parallel (the end-to-end tests) may not use it, and what reads these
// variables is the server and the commands the test starts.
func setenv(t testing.TB, key, value string) {
	old, had := os.LookupEnv(key)
	os.Setenv(key, value)
	t.Cleanup(func() {
		if had {
			os.Setenv(key, old)
		} else {
			os.Unsetenv(key)
		}
	})
}
