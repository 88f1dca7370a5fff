package offsite

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/stackctl/stackctl/internal/errs"
)

// sftpFS is a directory tree on an SFTP server, reached over one SSH connection
// that is dialled on first use and again after it drops.
type sftpFS struct {
	url        string // for messages
	user, addr string // addr is host:port
	identity   string // empty: the default keys in ~/.ssh
	knownHosts string // empty: ~/.ssh/known_hosts
	pin        string // SHA256:… fingerprint; overrides knownHosts
	// noHardLinks takes the path of servers without hard links in commitNew,
	// for the tests that prove it against OpenSSH, which has them.
	noHardLinks bool

	mu     sync.Mutex
	conn   *ssh.Client
	client *sftp.Client
	dead   chan struct{} // closed when conn is gone
}

// Tunables of the SFTP client: writes are buffered into 1 MiB, which the client
// sends as 32 KiB packets, up to 64 of them in flight; reads likewise.
const (
	sftpBuffer   = 1 << 20
	sftpInflight = 64
	dialTimeout  = 15 * time.Second
	keepalive    = 15 * time.Second
)

func parseSFTP(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: backup target %s: %v: write it as sftp://user@host[:port]/path", errs.ErrInvalidInput, redact(raw), err)
	}
	shown := "sftp://" + u.Host + u.EscapedPath()
	if u.User != nil {
		shown = "sftp://" + u.User.Username() + "@" + u.Host + u.EscapedPath()
	}
	if _, has := u.User.Password(); has {
		return nil, fmt.Errorf("%w: %s: the URL holds a password: stackctl takes none on the command line; authenticate with a key (?identity=FILE)", errs.ErrInvalidInput, shown)
	}
	if u.User == nil || u.User.Username() == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: backup target %s: name the user and the host: sftp://user@host[:port]/path", errs.ErrInvalidInput, shown)
	}
	opts, err := options(shown, u.Query(), "identity", "known-hosts", "host-key")
	if err != nil {
		return nil, err
	}
	if pin := opts["host-key"]; pin != "" && !strings.HasPrefix(pin, "SHA256:") {
		return nil, fmt.Errorf("%w: %s: host-key %q is not a SHA256 fingerprint: give it as ssh-keygen -lf prints it, SHA256:…", errs.ErrInvalidInput, shown, pin)
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	// "/~/x" and "/~" are under the login directory, where the server resolves relative paths.
	dir := u.Path
	switch {
	case dir == "" || dir == "/~":
		dir = "."
	case strings.HasPrefix(dir, "/~/"):
		dir = strings.TrimPrefix(dir, "/~/")
	}
	s := &sftpFS{
		url:        shown,
		user:       u.User.Username(),
		addr:       net.JoinHostPort(u.Hostname(), port),
		identity:   opts["identity"],
		knownHosts: opts["known-hosts"],
		pin:        opts["host-key"],
	}
	return &dirTarget{url: shown, dir: path.Clean(dir), fs: s}, nil
}

func (s *sftpFS) connect(ctx context.Context) error {
	_, err := s.sftp(ctx)
	return err
}

// sftp is the live client, dialling when there is none.
func (s *sftpFS) sftp(ctx context.Context) (*sftp.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		select {
		case <-s.dead:
			s.client.Close()
			s.client, s.conn = nil, nil
		default:
			return s.client, nil
		}
	}
	conn, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	client, err := sftp.NewClient(conn, sftp.UseConcurrentWrites(true), sftp.MaxConcurrentRequestsPerFile(sftpInflight))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %s: the server offers no SFTP: %v: enable its sftp subsystem (Subsystem sftp internal-sftp in sshd_config)", errs.ErrUnavailable, s.url, err)
	}
	s.conn, s.client, s.dead = conn, client, make(chan struct{})
	go s.watch(conn, s.dead)
	return client, nil
}

// watch marks the connection dead when it ends, and ends it when the server
// stops answering keepalives: a backup must fail, not hang, when the network does.
func (s *sftpFS) watch(conn *ssh.Client, dead chan struct{}) {
	ended := make(chan struct{})
	go func() {
		conn.Wait()
		close(ended)
	}()
	tick := time.NewTicker(keepalive)
	defer tick.Stop()
	for {
		select {
		case <-ended:
			close(dead)
			return
		case <-tick.C:
		}
		answered := make(chan struct{})
		go func() {
			conn.SendRequest("keepalive@openssh.com", true, nil)
			close(answered)
		}()
		select {
		case <-answered:
		case <-ended:
		case <-time.After(2 * keepalive):
			conn.Close()
		}
	}
}

func (s *sftpFS) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return nil
	}
	s.client.Close()
	err := s.conn.Close()
	s.client, s.conn = nil, nil
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (s *sftpFS) dial(ctx context.Context) (*ssh.Client, error) {
	signers, err := s.signers()
	if err != nil {
		return nil, err
	}
	trust, err := s.trust()
	if err != nil {
		return nil, err
	}
	algorithms := trust.algorithms
	var offered []ssh.PublicKey
	for {
		client, err := s.handshake(ctx, signers, trust, algorithms)
		var refused *hostKeyError
		switch {
		case err == nil:
			return client, nil
		case s.pin != "" && errors.As(err, &refused):
			// A fingerprint names no key type, and a server has keys of several:
			// ask again for the types it has not shown yet.
			offered = append(offered, refused.key)
			if algorithms == nil {
				algorithms = pinnable
			}
			algorithms = slices.DeleteFunc(slices.Clone(algorithms), func(a string) bool {
				return slices.Contains(algorithmsFor(refused.key.Type()), a)
			})
			if len(algorithms) > 0 {
				continue
			}
		case errors.As(err, &refused):
			return nil, refused.err
		case len(offered) == 0:
			return nil, err
		}
		// Every key the server would show was refused.
		return nil, s.notPinned(offered)
	}
}

// pinnable are the host key algorithms a pinned server is asked for, in turn.
var pinnable = []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}

// handshake connects and authenticates, asking for a host key of algorithms
// (nil: any). A refused host key comes back as the callback's *hostKeyError.
func (s *sftpFS) handshake(ctx context.Context, signers []ssh.Signer, trust hostTrust, algorithms []string) (*ssh.Client, error) {
	d := net.Dialer{Timeout: dialTimeout}
	raw, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: cannot reach %s: %v: check the host and port, and that its SSH server runs", errs.ErrUnavailable, s.url, s.addr, err)
	}
	// The handshake takes no context: a deadline and the context's end bound it.
	raw.SetDeadline(time.Now().Add(dialTimeout))
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	c, chans, reqs, err := ssh.NewClientConn(raw, s.addr, &ssh.ClientConfig{
		User:              s.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		HostKeyCallback:   trust.check,
		HostKeyAlgorithms: algorithms,
		Timeout:           dialTimeout,
	})
	if err != nil {
		raw.Close()
		var refused *hostKeyError
		switch {
		case errors.As(err, &refused):
			return nil, refused
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, fmt.Errorf("%w: %s: %s refused the key %s for %s: add its public key to the server's authorized_keys (ssh-copy-id -i %s -p %s %s@%s), or name another with ?identity=FILE",
				ErrAuth, s.url, s.addr, s.keyNames(), s.user, s.keyNames(), port(s.addr), s.user, host(s.addr))
		}
		return nil, fmt.Errorf("%w: %s: SSH handshake with %s failed: %v: check that an SSH server listens there", errs.ErrUnavailable, s.url, s.addr, err)
	}
	raw.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// defaultIdentities are the keys tried, in order, when the URL names none: ssh's own defaults.
var defaultIdentities = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// identityFiles are the key files to offer: the one the URL names, or those of
// the defaults that exist.
func (s *sftpFS) identityFiles() []string {
	if s.identity != "" {
		return []string{s.identity}
	}
	home, _ := os.UserHomeDir()
	var files []string
	for _, name := range defaultIdentities {
		files = append(files, path.Join(home, ".ssh", name))
	}
	return files
}

func (s *sftpFS) keyNames() string {
	if s.identity != "" {
		return s.identity
	}
	home, _ := os.UserHomeDir()
	return path.Join(home, ".ssh", "id_*")
}

func (s *sftpFS) signers() ([]ssh.Signer, error) {
	var signers []ssh.Signer
	var locked []string
	for _, file := range s.identityFiles() {
		data, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) && s.identity == "" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: reading the identity file: %v: name a readable private key with ?identity=FILE", ErrAuth, s.url, err)
		}
		signer, err := ssh.ParsePrivateKey(data)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			locked = append(locked, file)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: identity file %s holds no private key stackctl can read: %v", ErrAuth, s.url, file, err)
		}
		signers = append(signers, signer)
	}
	switch {
	case len(signers) > 0:
		return signers, nil
	case len(locked) > 0:
		return nil, fmt.Errorf("%w: %s: identity file %s is protected by a passphrase, which an unattended backup cannot type: make a key without one (ssh-keygen -t ed25519 -N '' -f FILE), install it on the server and name it with ?identity=FILE",
			ErrAuth, s.url, strings.Join(locked, ", "))
	}
	return nil, fmt.Errorf("%w: %s: no identity file (%s): make a key (ssh-keygen -t ed25519), install it on the server (ssh-copy-id), or name one with ?identity=FILE",
		ErrAuth, s.url, strings.Join(s.identityFiles(), ", "))
}

func (s *sftpFS) stat(name string) (fs.FileInfo, error) {
	c, err := s.sftp(context.Background())
	if err != nil {
		return nil, err
	}
	return c.Stat(name)
}

func (s *sftpFS) readDir(dir string) ([]fs.FileInfo, error) {
	c, err := s.sftp(context.Background())
	if err != nil {
		return nil, err
	}
	return c.ReadDir(dir)
}

func (s *sftpFS) remove(name string) error {
	c, err := s.sftp(context.Background())
	if err != nil {
		return err
	}
	return c.Remove(name)
}

func (s *sftpFS) mkdir(dir string) string {
	return fmt.Sprintf("ssh -p %s %s@%s mkdir -p %s", port(s.addr), s.user, host(s.addr), dir)
}

func (s *sftpFS) open(name string) (file, error) {
	c, err := s.sftp(context.Background())
	if err != nil {
		return nil, err
	}
	f, err := c.Open(name)
	if err != nil {
		return nil, err
	}
	// Reads of 1 MiB, which the client fetches as concurrent packets; only
	// Read: the file's WriteTo would go around the buffer, and fileReader hides it.
	return &sftpFile{File: f, r: bufio.NewReaderSize(f, sftpBuffer)}, nil
}

type sftpFile struct {
	*sftp.File
	r *bufio.Reader
}

func (f *sftpFile) Read(p []byte) (int, error) { return f.r.Read(p) }

// partialName is the temporary name beside name: .<name>.partial-<random>.
func partialName(name string) string {
	var b [8]byte
	rand.Read(b[:])
	return path.Join(path.Dir(name), "."+path.Base(name)+partialMark+hex.EncodeToString(b[:]))
}

func (s *sftpFS) create(ctx context.Context, name string) (tempFile, error) {
	c, err := s.sftp(ctx)
	if err != nil {
		return nil, err
	}
	tmp := partialName(name)
	f, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return nil, err
	}
	// 0600 before any byte is written: an archive holds the whole tracker.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		c.Remove(tmp)
		return nil, err
	}
	// A cancelled upload must not wait on a server that no longer reads: ending
	// the connection fails the write in flight; the next request dials again.
	stop := context.AfterFunc(ctx, func() { s.close() })
	return &sftpTemp{s: s, c: c, f: f, w: bufio.NewWriterSize(f, sftpBuffer), tmp: tmp, final: name, stop: stop}, nil
}

type sftpTemp struct {
	s          *sftpFS
	c          *sftp.Client
	f          *sftp.File
	w          *bufio.Writer
	tmp, final string
	stop       func() bool
}

func (t *sftpTemp) Write(p []byte) (int, error) { return t.w.Write(p) }

func (t *sftpTemp) finish() (int64, error) {
	if err := t.w.Flush(); err != nil {
		return 0, err
	}
	// On the server's disk before it is given its name, where the server can
	// (OpenSSH's fsync@openssh.com); the size is then the server's own count.
	if _, ok := t.c.HasExtension("fsync@openssh.com"); ok {
		if err := t.f.Sync(); err != nil {
			return 0, err
		}
	}
	fi, err := t.f.Stat()
	if err != nil {
		return 0, err
	}
	if err := t.f.Close(); err != nil {
		return 0, err
	}
	t.stop()
	return fi.Size(), nil
}

// commitNew names the file in one step that refuses to replace: a hard link
// (hardlink@openssh.com, link(2) on the server) then the removal of the
// temporary name. Where the server has no hard links, a look for the name, then
// posix-rename@openssh.com (rename(2): atomic), else the protocol's own rename,
// which refuses an existing name but promises no atomicity.
func (t *sftpTemp) commitNew() error {
	if _, ok := t.c.HasExtension("hardlink@openssh.com"); ok && !t.s.noHardLinks {
		err := t.c.Link(t.tmp, t.final)
		if err == nil {
			// Left behind if this fails: a stale partial file, which Sweep removes.
			t.c.Remove(t.tmp)
			return nil
		}
		if _, serr := t.c.Lstat(t.final); serr == nil {
			t.c.Remove(t.tmp)
			return fs.ErrExist
		}
		return err
	}
	if _, err := t.c.Lstat(t.final); err == nil {
		t.c.Remove(t.tmp)
		return fs.ErrExist
	}
	return rename(t.c, t.tmp, t.final)
}

func (t *sftpTemp) abort() error {
	t.stop()
	t.f.Close()
	// The connection may be gone with the cancelled upload: a fresh one removes the file.
	ctx, cancel := cleanupContext(context.Background())
	defer cancel()
	c, err := t.s.sftp(ctx)
	if err != nil {
		return err
	}
	if err := c.Remove(t.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// rename moves from to to, replacing it at once where the server can
// (posix-rename@openssh.com); else with the protocol's rename, which fails on
// an existing name and so needs to's removal first.
func rename(c *sftp.Client, from, to string) error {
	if _, ok := c.HasExtension("posix-rename@openssh.com"); ok {
		return c.PosixRename(from, to)
	}
	return c.Rename(from, to)
}

func (s *sftpFS) replace(name string, data []byte) error {
	c, err := s.sftp(context.Background())
	if err != nil {
		return err
	}
	tmp := partialName(name)
	f, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return err
	}
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if _, ok := c.HasExtension("posix-rename@openssh.com"); !ok {
			// Not atomic: for a moment there is no sidecar, never a partial one.
			c.Remove(name)
		}
		err = rename(c, tmp, name)
	}
	if err != nil {
		c.Remove(tmp)
	}
	return err
}

func host(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
