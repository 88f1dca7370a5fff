package offsite

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// An upload sends the archive as the parts of one multipart upload, each part
// buffered in memory: partSize × (inflight+1) bytes at most (64 MiB), and
// archives up to maxParts × partSize (156 GiB).
const (
	partSize = 16 << 20
	inflight = 3
	maxParts = 10000
)

// crc64NVME is the table of the CRC-64/NVME checksum, the one S3 can check a
// whole multipart object against (ChecksumType FULL_OBJECT).
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// s3Target keeps archives as objects <prefix><archive> in a bucket, their
// sidecars as <prefix><archive>.json. An upload in progress is a multipart
// upload, which S3 never lists or serves as an object.
type s3Target struct {
	url             string
	bucket, prefix  string // prefix is empty or ends in "/"
	endpoint        string
	region, profile string
	credentials     string // a shared credentials file
	pathStyle       bool

	client *s3.Client
	ready  bool // the bucket was seen to exist
}

func parseS3(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: backup target %s: %v: write it as s3://bucket/prefix", errs.ErrInvalidInput, redact(raw), err)
	}
	prefix := strings.Trim(u.Path, "/")
	shown := "s3://" + u.Host + "/" + prefix
	if u.User != nil {
		return nil, fmt.Errorf("%w: s3://…@%s: the URL holds credentials: stackctl takes none on the command line; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a credentials file with ?credentials-file=FILE", errs.ErrInvalidInput, u.Host)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: backup target %s: name the bucket: s3://bucket/prefix", errs.ErrInvalidInput, shown)
	}
	opts, err := options(shown, u.Query(), "endpoint", "region", "path-style", "profile", "credentials-file")
	if err != nil {
		return nil, err
	}
	t := &s3Target{url: shown, bucket: u.Host, endpoint: opts["endpoint"], region: opts["region"], profile: opts["profile"], credentials: opts["credentials-file"]}
	if prefix != "" {
		t.prefix = prefix + "/"
	}
	if v, ok := opts["path-style"]; ok {
		if t.pathStyle, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("%w: %s: path-style=%q: give true or false", errs.ErrInvalidInput, shown, v)
		}
	}
	if e := t.endpoint; e != "" {
		eu, err := url.Parse(e)
		if err != nil || (eu.Scheme != "http" && eu.Scheme != "https") || eu.Host == "" {
			return nil, fmt.Errorf("%w: %s: endpoint %q is not an http:// or https:// URL", errs.ErrInvalidInput, shown, redact(e))
		}
		if eu.User != nil {
			return nil, fmt.Errorf("%w: %s: the endpoint holds credentials: stackctl takes none in a URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a credentials file with ?credentials-file=FILE", errs.ErrInvalidInput, shown)
		}
	}
	return t, nil
}

func (t *s3Target) String() string { return t.url }

// connect makes the client. Credentials: the credentials file named by the URL
// first, else the SDK's standard chain, with the cloud instance metadata service
// left out: it is a network address a backup on a host has no business asking.
func (t *s3Target) connect(ctx context.Context) (*s3.Client, error) {
	if t.client != nil {
		return t.client, nil
	}
	load := []func(*config.LoadOptions) error{config.WithEC2IMDSClientEnableState(imds.ClientDisabled)}
	if t.region != "" {
		load = append(load, config.WithRegion(t.region))
	}
	if t.profile != "" {
		load = append(load, config.WithSharedConfigProfile(t.profile))
	}
	if t.credentials != "" {
		// The keys are secrets as any other: the file is checked as stackctl's own.
		if err := state.CheckPrivate(t.credentials); err != nil {
			return nil, fmt.Errorf("%w: %s: credentials-file: %s", errs.ErrInvalidInput, t, strings.TrimPrefix(err.Error(), errs.ErrInvalidInput.Error()+": "))
		}
		// Where the SDK looks for the profile too, which need not be in ~/.aws.
		load = append(load, config.WithSharedCredentialsFiles([]string{t.credentials}))
		profile := t.profile
		if profile == "" {
			profile = "default"
		}
		shared, err := config.LoadSharedConfigProfile(ctx, profile, func(o *config.LoadSharedConfigOptions) {
			o.CredentialsFiles = []string{t.credentials}
			o.ConfigFiles = []string{}
		})
		if err == nil && !shared.Credentials.HasKeys() {
			err = errors.New("no aws_access_key_id and aws_secret_access_key")
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: credentials file %s, profile %s: %v: write the keys there as [%s] aws_access_key_id = … aws_secret_access_key = …",
				ErrAuth, t, t.credentials, profile, err, profile)
		}
		load = append(load, config.WithCredentialsProvider(credentials.StaticCredentialsProvider{Value: shared.Credentials}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: reading the AWS configuration: %v: check AWS_PROFILE and the files it names", ErrAuth, t, err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("%w: %s: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with a shared credentials file, or name one with ?credentials-file=FILE (%v)",
			ErrAuth, t, err)
	}
	t.client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if t.endpoint != "" {
			o.BaseEndpoint = aws.String(t.endpoint)
		}
		o.UsePathStyle = t.pathStyle
		// A ranged read has no checksum to check; that is no news for the operator.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return t.client, nil
}

func (t *s3Target) Check(ctx context.Context) error {
	c, err := t.connect(ctx)
	if err != nil || t.ready {
		return err
	}
	// A GET, not HeadBucket: a HEAD's error has no body, so no code to tell a
	// missing bucket from refused keys by (versitygw answers 404 to both).
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &t.bucket, Prefix: &t.prefix, MaxKeys: aws.Int32(1)}); err != nil {
		return t.fail("reading bucket "+t.bucket, err)
	}
	t.ready = true
	return nil
}

// refusals are the error codes of credentials refused; XAdminUserNotFound is
// versitygw's for an unknown access key, which it answers with a 404.
var refusals = []string{"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken", "XAdminUserNotFound"}

// fail words an S3 error for the operator: what was refused or missing, and
// what to do about it.
func (t *s3Target) fail(doing string, err error) error {
	var status interface{ HTTPStatusCode() int }
	code, httpStatus := "", 0
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	if errors.As(err, &status) {
		httpStatus = status.HTTPStatusCode()
	}
	var netErr *net.OpError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %s: %w", t, doing, err)
	case code == "NoSuchBucket":
		return fmt.Errorf("%w: %s: bucket %s does not exist%s: create it (aws s3 mb s3://%s%s) or correct the URL",
			errs.ErrNotFound, t, t.bucket, t.at(), t.bucket, t.endpointFlag())
	case httpStatus == 403 || slices.Contains(refusals, code):
		return fmt.Errorf("%w: %s: %s: the server refused the credentials (%s): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the profile, and that they may use bucket %s",
			ErrAuth, t, doing, t.accessKey(), t.bucket)
	case errors.As(err, &netErr) && httpStatus == 0:
		return fmt.Errorf("%w: %s: %s: cannot reach the S3 server%s: %v: check the endpoint and that the server runs", errs.ErrUnavailable, t, doing, t.at(), netErr)
	}
	return fmt.Errorf("%s: %s: %w", t, doing, err)
}

func (t *s3Target) at() string {
	if t.endpoint == "" {
		return ""
	}
	return " at " + t.endpoint
}

func (t *s3Target) endpointFlag() string {
	if t.endpoint == "" {
		return ""
	}
	return " --endpoint-url " + t.endpoint
}

// accessKey names the key that was offered (its ID is no secret), for a message.
func (t *s3Target) accessKey() string {
	if t.client == nil {
		return "no key"
	}
	creds, err := t.client.Options().Credentials.Retrieve(context.Background())
	if err != nil {
		return "no key"
	}
	return "access key " + creds.AccessKeyID
}

func isNotFound(err error) bool {
	var api smithy.APIError
	var status interface{ HTTPStatusCode() int }
	return (errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")) ||
		(errors.As(err, &status) && status.HTTPStatusCode() == 404)
}

func (t *s3Target) Create(ctx context.Context, name string) (Upload, error) {
	stack, err := begin(ctx, t, name)
	if err != nil {
		return nil, err
	}
	// A failed sweep must not stop a backup; the next one sweeps again.
	_, _ = t.Sweep(ctx, stack, DefaultIdle)
	key := t.prefix + name
	// Before the stream starts, rather than after a whole backup; Commit checks again.
	if _, err := t.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &t.bucket, Key: &key}); err == nil {
		return nil, exists(t, name)
	} else if !isNotFound(err) {
		return nil, t.fail("looking for "+name, err)
	}
	out, err := t.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            &t.bucket,
		Key:               &key,
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme,
		ChecksumType:      types.ChecksumTypeFullObject,
	})
	if err != nil {
		return nil, t.fail("starting the upload of "+name, err)
	}
	uctx, cancel := context.WithCancelCause(ctx)
	return &s3Upload{
		t: t, client: t.client, ctx: uctx, cancel: cancel, name: name, key: key, id: *out.UploadId,
		tally: newTally(), crc: crc64.New(crc64NVME), free: make(chan []byte, inflight+1),
	}, nil
}

// s3Upload is a multipart upload: Write fills a part, which goes up in the
// background while the next fills, up to inflight at a time.
type s3Upload struct {
	t          *s3Target
	client     *s3.Client // the target's, which Close lets go of
	ctx        context.Context
	cancel     context.CancelCauseFunc
	name, key  string
	id         string
	tally      *tally
	crc        hash.Hash64
	buf        []byte // the part being filled
	buffers    int    // allocated so far, up to inflight+1
	free       chan []byte
	next       int32 // the number of the last part sent
	wg         sync.WaitGroup
	mu         sync.Mutex
	parts      []types.CompletedPart
	err        error // the first part's failure
	done       bool
	abortError error
}

func (u *s3Upload) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if err := u.failed(); err != nil {
			return n, err
		}
		if u.buf == nil {
			buf, err := u.take()
			if err != nil {
				return n, err
			}
			u.buf = buf
		}
		c := copy(u.buf[len(u.buf):cap(u.buf)], p)
		u.buf = u.buf[:len(u.buf)+c]
		u.tally.add(p[:c])
		u.crc.Write(p[:c])
		n += c
		p = p[c:]
		if len(u.buf) == cap(u.buf) {
			u.send()
		}
	}
	return n, nil
}

// take is an empty part buffer, waiting for a part in flight to free one.
func (u *s3Upload) take() ([]byte, error) {
	if u.buffers < cap(u.free) {
		select {
		case b := <-u.free:
			return b[:0], nil
		default:
			u.buffers++
			return make([]byte, 0, partSize), nil
		}
	}
	select {
	case b := <-u.free:
		return b[:0], nil
	case <-u.ctx.Done():
		return nil, u.failed()
	}
}

// send uploads the filled buffer as the next part, in the background.
func (u *s3Upload) send() {
	buf := u.buf
	u.buf = nil
	if u.next == maxParts {
		u.fail(fmt.Errorf("%s: %s is larger than S3 takes in %d parts of %d MiB", u.t, u.name, maxParts, partSize>>20))
		return
	}
	u.next++
	part := u.next
	u.wg.Go(func() {
		defer func() { u.free <- buf }()
		sum := crc64.Checksum(buf, crc64NVME)
		out, err := u.client.UploadPart(u.ctx, &s3.UploadPartInput{
			Bucket:            &u.t.bucket,
			Key:               &u.key,
			UploadId:          &u.id,
			PartNumber:        &part,
			Body:              bytes.NewReader(buf),
			ContentLength:     aws.Int64(int64(len(buf))),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme,
			ChecksumCRC64NVME: aws.String(crcString(sum)),
		})
		if err != nil {
			u.fail(u.t.fail(fmt.Sprintf("uploading part %d of %s", part, u.name), err))
			return
		}
		u.mu.Lock()
		u.parts = append(u.parts, types.CompletedPart{PartNumber: &part, ETag: out.ETag, ChecksumCRC64NVME: aws.String(crcString(sum))})
		u.mu.Unlock()
	})
}

func crcString(sum uint64) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, sum))
}

func (u *s3Upload) fail(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err == nil {
		u.err = err
		u.cancel(err)
	}
}

// failed is the upload's first failure, or the end of its context.
func (u *s3Upload) failed() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return u.err
	}
	return context.Cause(u.ctx)
}

// Commit completes the multipart upload with three conditions the server checks
// before the object exists: the size written (MpuObjectSize), the CRC-64/NVME of
// every byte written (a FULL_OBJECT checksum, which the server combines from the
// parts' checksums, each checked as its part arrived), and that no object has
// the name (If-None-Match: *). A HeadObject then confirms size and checksum, for
// a server that ignores those conditions; on a mismatch the object is deleted.
func (u *s3Upload) Commit(ctx context.Context) (Committed, error) {
	if u.done {
		return Committed{}, fmt.Errorf("%s: upload of %s is already over", u.t, u.name)
	}
	if len(u.buf) > 0 || u.next == 0 {
		// The last part may be short; an empty archive is one empty part.
		if u.buf == nil {
			u.buf = []byte{}
		}
		u.send()
	}
	u.wg.Wait()
	err := errors.Join(u.failed(), ctx.Err())
	if err == nil {
		err = u.complete(ctx)
	}
	if err != nil {
		u.Abort()
		return Committed{}, err
	}
	u.done = true
	u.cancel(nil)
	return u.tally.committed(u.name), nil
}

func (u *s3Upload) complete(ctx context.Context) error {
	slices.SortFunc(u.parts, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	sum := crcString(u.crc.Sum64())
	_, err := u.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:            &u.t.bucket,
		Key:               &u.key,
		UploadId:          &u.id,
		MultipartUpload:   &types.CompletedMultipartUpload{Parts: u.parts},
		ChecksumType:      types.ChecksumTypeFullObject,
		ChecksumCRC64NVME: &sum,
		MpuObjectSize:     &u.tally.n,
		IfNoneMatch:       aws.String("*"),
	})
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "PreconditionFailed" || api.ErrorCode() == "ConditionalRequestConflict") {
		return exists(u.t, u.name)
	}
	if errors.As(err, &api) && slices.Contains([]string{"BadDigest", "InvalidRequest", "InvalidPart"}, api.ErrorCode()) {
		return fmt.Errorf("%s: upload of %s incomplete: the server holds other bytes than were written (%s: %s): nothing was kept under that name; run the backup again",
			u.t, u.name, api.ErrorCode(), api.ErrorMessage())
	}
	if err != nil {
		return u.t.fail("completing the upload of "+u.name, err)
	}
	head, err := u.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &u.t.bucket, Key: &u.key, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return u.t.fail("checking "+u.name, err)
	}
	held := aws.ToInt64(head.ContentLength)
	if held == u.tally.n && (head.ChecksumCRC64NVME == nil || *head.ChecksumCRC64NVME == sum) {
		return nil
	}
	dctx, cancel := cleanupContext(ctx)
	defer cancel()
	u.client.DeleteObject(dctx, &s3.DeleteObjectInput{Bucket: &u.t.bucket, Key: &u.key})
	if held != u.tally.n {
		return mismatch(u.t, u.name, u.tally.n, held)
	}
	return fmt.Errorf("%s: upload of %s damaged: its CRC-64/NVME is %s on the server, %s as written: it was deleted; run the backup again", u.t, u.name, *head.ChecksumCRC64NVME, sum)
}

// Abort stops the parts in flight and aborts the multipart upload. When the
// server cannot be reached it stays there, which S3 lists as no object; the
// next upload of the stack sweeps it once idle.
func (u *s3Upload) Abort() error {
	if u.done {
		return u.abortError
	}
	u.done = true
	u.cancel(errors.New("upload aborted"))
	u.wg.Wait()
	ctx, cancel := cleanupContext(u.ctx)
	defer cancel()
	if _, err := u.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &u.t.bucket, Key: &u.key, UploadId: &u.id}); err != nil && !isNotFound(err) {
		u.abortError = u.t.fail("aborting the upload of "+u.name, err)
	}
	return u.abortError
}

func (t *s3Target) Open(ctx context.Context, name string) (Reader, error) {
	if _, err := begin(ctx, t, name); err != nil {
		return nil, err
	}
	key := t.prefix + name
	head, err := t.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &t.bucket, Key: &key})
	if isNotFound(err) {
		return nil, noArchive(t, name)
	}
	if err != nil {
		return nil, t.fail("opening "+name, err)
	}
	return &s3Reader{t: t, client: t.client, ctx: ctx, name: name, key: key, size: aws.ToInt64(head.ContentLength), etag: head.ETag}, nil
}

// s3Reader reads an object: the stream is one GET, started on the first Read, so
// that a caller that only peeks (ReadAt) fetches only what it reads.
type s3Reader struct {
	t         *s3Target
	client    *s3.Client
	ctx       context.Context
	name, key string
	size      int64
	etag      *string // the object read must stay the one opened
	body      io.ReadCloser
}

func (r *s3Reader) Size() int64 { return r.size }

func (r *s3Reader) Read(p []byte) (int, error) {
	if r.body == nil {
		// ChecksumMode: the SDK checks the object's CRC-64/NVME once the stream ends.
		out, err := r.client.GetObject(r.ctx, &s3.GetObjectInput{Bucket: &r.t.bucket, Key: &r.key, IfMatch: r.etag, ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			return 0, r.t.fail("reading "+r.name, err)
		}
		r.body = out.Body
	}
	return r.body.Read(p)
}

func (r *s3Reader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), r.size) - 1
	out, err := r.client.GetObject(r.ctx, &s3.GetObjectInput{
		Bucket: &r.t.bucket, Key: &r.key, IfMatch: r.etag,
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, end)),
	})
	if err != nil {
		return 0, r.t.fail("reading "+r.name, err)
	}
	defer out.Body.Close()
	n, err := io.ReadFull(out.Body, p[:end-off+1])
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

func (r *s3Reader) Close() error {
	if r.body == nil {
		return nil
	}
	return r.body.Close()
}

func (t *s3Target) List(ctx context.Context, stack string) ([]Archive, error) {
	if err := t.Check(ctx); err != nil {
		return nil, err
	}
	var list []Archive
	pages := s3.NewListObjectsV2Paginator(t.client, &s3.ListObjectsV2Input{Bucket: &t.bucket, Prefix: aws.String(t.prefix + stack + "-")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, t.fail("listing "+t.url, err)
		}
		for _, o := range page.Contents {
			if a, ok := archiveOf(strings.TrimPrefix(aws.ToString(o.Key), t.prefix), stack, aws.ToInt64(o.Size)); ok {
				list = append(list, a)
			}
		}
	}
	sortArchives(list)
	return list, nil
}

func (t *s3Target) Remove(ctx context.Context, name string) error {
	if _, err := begin(ctx, t, name); err != nil {
		return err
	}
	key := t.prefix + name
	// DeleteObject succeeds on a missing key: look first, to say so.
	if _, err := t.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &t.bucket, Key: &key}); isNotFound(err) {
		return noArchive(t, name)
	} else if err != nil {
		return t.fail("removing "+name, err)
	}
	for _, k := range []string{key, key + SidecarSuffix} {
		if _, err := t.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &t.bucket, Key: &k}); err != nil {
			return t.fail("removing "+k, err)
		}
	}
	return nil
}

func (t *s3Target) ReadSidecar(ctx context.Context, name string) ([]byte, error) {
	if _, err := begin(ctx, t, name); err != nil {
		return nil, err
	}
	out, err := t.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &t.bucket, Key: aws.String(t.prefix + name + SidecarSuffix)})
	if isNotFound(err) {
		return nil, noSidecar(t, name)
	}
	if err != nil {
		return nil, t.fail("reading the sidecar of "+name, err)
	}
	defer out.Body.Close()
	return readSidecar(t, name, out.Body)
}

// WriteSidecar puts the sidecar as one object, which S3 replaces at once.
func (t *s3Target) WriteSidecar(ctx context.Context, name string, data []byte) error {
	if err := checkSidecar(ctx, t, name, data); err != nil {
		return err
	}
	_, err := t.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &t.bucket, Key: aws.String(t.prefix + name + SidecarSuffix),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return t.fail("writing the sidecar of "+name, err)
	}
	return nil
}

// Sweep aborts the stack's multipart uploads whose last part (or start, when
// none) is older than idle.
func (t *s3Target) Sweep(ctx context.Context, stack string, idle time.Duration) ([]string, error) {
	if err := t.Check(ctx); err != nil {
		return nil, err
	}
	var swept []string
	pages := s3.NewListMultipartUploadsPaginator(t.client, &s3.ListMultipartUploadsInput{Bucket: &t.bucket, Prefix: aws.String(t.prefix + stack + "-")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return swept, t.fail("listing the unfinished uploads in "+t.url, err)
		}
		for _, up := range page.Uploads {
			name := strings.TrimPrefix(aws.ToString(up.Key), t.prefix)
			if !sweepable(name, stack) || strings.Contains(name, "/") {
				continue
			}
			if idle > 0 {
				last, err := t.lastWrite(ctx, up)
				if err != nil {
					return swept, err
				}
				if time.Since(last) < idle {
					continue
				}
			}
			if _, err := t.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &t.bucket, Key: up.Key, UploadId: up.UploadId}); err != nil && !isNotFound(err) {
				return swept, t.fail("aborting the unfinished upload of "+name, err)
			}
			swept = append(swept, name+" (upload "+aws.ToString(up.UploadId)+")")
		}
	}
	return swept, nil
}

// lastWrite is when the multipart upload last received a part, or began.
func (t *s3Target) lastWrite(ctx context.Context, up types.MultipartUpload) (time.Time, error) {
	last := aws.ToTime(up.Initiated)
	pages := s3.NewListPartsPaginator(t.client, &s3.ListPartsInput{Bucket: &t.bucket, Key: up.Key, UploadId: up.UploadId})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if isNotFound(err) {
			return last, nil // finished or aborted meanwhile
		}
		if err != nil {
			return last, t.fail("listing the parts of "+aws.ToString(up.Key), err)
		}
		for _, p := range page.Parts {
			if m := aws.ToTime(p.LastModified); m.After(last) {
				last = m
			}
		}
	}
	return last, nil
}

func (t *s3Target) Close() error {
	t.client, t.ready = nil, false
	return nil
}
