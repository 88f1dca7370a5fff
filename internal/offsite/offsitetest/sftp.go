package offsitetest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshdPath is Debian's OpenSSH server; it must be run by its absolute path.
const sshdPath = "/usr/sbin/sshd"

// SFTP is an OpenSSH server on a loopback port that lets the current user in
// with one key and serves SFTP, with its own host keys and configuration.
type SFTP struct {
	// Addr is 127.0.0.1:<port>.
	Addr string
	User string
	// Dir is an empty directory the tests may keep backups in.
	Dir string
	// Identity is the private key file the server accepts.
	Identity string
	// KnownHosts is a known_hosts file that holds the server's Ed25519 host key.
	KnownHosts string
	// HostKeys are the server's public host keys: Ed25519, then RSA.
	HostKeys []ssh.PublicKey

	t      testing.TB
	config string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *syncBuffer
}

// StartSFTP starts the server and stops it when the test ends. It skips the test
// when sshd is missing, unless STACKCTL_E2E=1, which makes that a failure.
func StartSFTP(t testing.TB) *SFTP {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		skipOrFail(t, "%s is missing (apt-get install openssh-server; scripts/bootstrap does)", sshdPath)
	}
	if os.Geteuid() == 0 {
		// sshd running as root confines its unprivileged child there; Debian's
		// service creates it on start, and so must a server started by hand.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := t.TempDir()
	s := &SFTP{User: me.Username, Dir: t.TempDir(), t: t, config: filepath.Join(conf, "sshd_config"), log: &syncBuffer{}}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))

	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var hostKeys []string
	for i, key := range []any{edKey, rsaKey} {
		file := filepath.Join(conf, fmt.Sprintf("host_key_%d", i))
		pub := writePrivateKey(t, file, key)
		s.HostKeys = append(s.HostKeys, pub)
		hostKeys = append(hostKeys, "HostKey "+file)
	}
	_, clientKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.Identity = filepath.Join(conf, "id_ed25519")
	clientPub := writePrivateKey(t, s.Identity, clientKey)
	authorized := filepath.Join(conf, "authorized_keys")
	writeFile(t, authorized, ssh.MarshalAuthorizedKey(clientPub))
	s.KnownHosts = filepath.Join(conf, "known_hosts")
	writeFile(t, s.KnownHosts, []byte(s.KnownHostsLine(s.HostKeys[0])+"\n"))

	host, port, _ := net.SplitHostPort(s.Addr)
	// StrictModes off: the keys live in a temporary directory under the world-writable /tmp.
	writeFile(t, s.config, []byte(strings.Join(append(hostKeys,
		"Port "+port,
		"ListenAddress "+host,
		"PidFile none",
		"AuthorizedKeysFile "+authorized,
		"AuthenticationMethods publickey",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"StrictModes no",
		"Subsystem sftp internal-sftp",
		"LogLevel VERBOSE",
	), "\n")+"\n"))
	s.Start()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("sshd's log:\n%s", s.log.String())
		}
	})
	return s
}

// URL is the target URL of dir on the server (absolute, or relative to s.Dir),
// with the identity and known_hosts options.
func (s *SFTP) URL(dir string) string {
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(s.Dir, dir)
	}
	q := url.Values{"identity": {s.Identity}, "known-hosts": {s.KnownHosts}}
	return fmt.Sprintf("sftp://%s@%s%s?%s", s.User, s.Addr, dir, q.Encode())
}

// KnownHostsLine is the known_hosts line that trusts key for the server's address.
func (s *SFTP) KnownHostsLine(key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, key)
}

// Start starts sshd, on the same port and keys after a Stop, and waits until it listens.
func (s *SFTP) Start() {
	s.t.Helper()
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", s.config)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting sshd: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(s.exited)
	waitListening(s.t, s.Addr, s.exited, s.log)
}

// Stop kills sshd and every session it serves, as a crash or a power cut of the
// server would: an upload in progress is cut off mid-stream.
func (s *SFTP) Stop() {
	if s.cmd == nil {
		return
	}
	// Each session's process starts a session of its own (setsid), so killing
	// sshd's process group would miss it: kill its descendants by their IDs.
	for _, pid := range descendants(s.cmd.Process.Pid) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Files lists the names in dir on the server (relative to s.Dir unless
// absolute), hidden ones included: what a test expects to be left there.
func (s *SFTP) Files(dir string) []string {
	s.t.Helper()
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(s.Dir, dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// descendants are the IDs of pid's child processes, theirs, and so on, by /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(data, ')')
		fields := strings.Fields(string(data[i+1:]))
		if i < 0 || len(fields) < 2 {
			continue
		}
		child, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		parent, _ := strconv.Atoi(fields[1])
		children[parent] = append(children[parent], child)
	}
	var all []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		all = append(all, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return all
}

// writePrivateKey writes key in OpenSSH's format, mode 0600, and returns its public half.
func writePrivateKey(t testing.TB, file string, key any) ssh.PublicKey {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, file, pem.EncodeToMemory(block))
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return signer.PublicKey()
}

// WritePrivateKey makes a new Ed25519 key in file (one the server does not
// know), for tests of a refused key.
func WritePrivateKey(t testing.TB, file string) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	writePrivateKey(t, file, key)
}

func writeFile(t testing.TB, file string, data []byte) {
	t.Helper()
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// FreePort is a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening waits until addr accepts connections, failing the test if the
// server exits first or takes more than ten seconds.
func waitListening(t testing.TB, addr string, exited <-chan struct{}, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("the server on %s exited before it listened:\n%s", addr, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server on %s does not listen after 10s:\n%s", addr, log)
		}
	}
}

// skipOrFail skips the test, or fails it under STACKCTL_E2E=1 (CI), where every
// test must run.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("STACKCTL_E2E") == "1" {
		t.Fatalf("STACKCTL_E2E=1 but %s", msg)
	}
	t.Skipf("%s; set STACKCTL_E2E=1 to make this a failure", msg)
}

// syncBuffer is a log that sshd's output and the test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
