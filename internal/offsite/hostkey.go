package offsite

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostTrust is how an SFTP target decides whether the server is the one meant:
// its host key must be in known_hosts under the address dialled, or match the
// pinned fingerprint. Nothing is ever accepted on first sight.
type hostTrust struct {
	check ssh.HostKeyCallback
	// algorithms are the host key types known_hosts holds for the address, so
	// that the server is asked for a key that can match; nil for the defaults.
	algorithms []string
}

// hostKeyError is a host key refused: it carries the worded ErrHostKey through
// the SSH handshake, which would otherwise bury it under "ssh: handshake failed".
type hostKeyError struct {
	err error
	key ssh.PublicKey // the key refused
}

func (e *hostKeyError) Error() string { return e.err.Error() }
func (e *hostKeyError) Unwrap() error { return e.err }

func (s *sftpFS) trust() (hostTrust, error) {
	if s.pin != "" {
		return hostTrust{check: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if ssh.FingerprintSHA256(key) != s.pin {
				return &hostKeyError{err: s.notPinned([]ssh.PublicKey{key}), key: key}
			}
			return nil
		}}, nil
	}
	file := s.knownHostsFile()
	known, err := knownhosts.New(file)
	if errors.Is(err, fs.ErrNotExist) {
		return hostTrust{}, fmt.Errorf("%w: %s: no known_hosts file %s to check the host key of %s against: check its fingerprint with the server's operator, then add it (%s) or pin it with ?host-key=SHA256:…",
			ErrHostKey, s.url, file, s.addr, s.keyscan(file))
	}
	if err != nil {
		return hostTrust{}, fmt.Errorf("%w: %s: reading %s: %v: correct or remove that line", ErrHostKey, s.url, file, err)
	}
	check := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := known(hostname, remote, key)
		if err == nil {
			return nil
		}
		fp := ssh.FingerprintSHA256(key)
		var unknown *knownhosts.KeyError
		var revoked *knownhosts.RevokedError
		switch {
		case errors.As(err, &unknown) && len(unknown.Want) == 0:
			err = fmt.Errorf("%w: %s: host %s is not in %s (it offers %s %s): check that fingerprint with the server's operator, then add the key (%s) or pin it with ?host-key=%s",
				ErrHostKey, s.url, s.addr, file, key.Type(), fp, s.keyscan(file), fp)
		case errors.As(err, &unknown):
			w := unknown.Want[0]
			err = fmt.Errorf("%w: %s: %s offers host key %s %s, but %s:%d holds another for it: if the server was given a new key, check it with its operator and replace that line (ssh-keygen -R '%s' -f %s); otherwise the connection may be intercepted",
				ErrHostKey, s.url, s.addr, key.Type(), fp, w.Filename, w.Line, knownhosts.Normalize(s.addr), file)
		case errors.As(err, &revoked):
			err = fmt.Errorf("%w: %s: %s offers host key %s, revoked in %s:%d: ask the server's operator for its current key",
				ErrHostKey, s.url, s.addr, fp, revoked.Revoked.Filename, revoked.Revoked.Line)
		default:
			err = fmt.Errorf("%w: %s: checking the host key of %s: %v", ErrHostKey, s.url, s.addr, err)
		}
		return &hostKeyError{err: err, key: key}
	}
	return hostTrust{check: check, algorithms: knownAlgorithms(known, s.addr)}, nil
}

func (s *sftpFS) knownHostsFile() string {
	if s.knownHosts != "" {
		return s.knownHosts
	}
	home, _ := os.UserHomeDir()
	return path.Join(home, ".ssh", "known_hosts")
}

func (s *sftpFS) keyscan(file string) string {
	return fmt.Sprintf("ssh-keyscan -p %s %s >> %s", port(s.addr), host(s.addr), file)
}

// knownAlgorithms asks known with a key it cannot know, and reads the types of
// the keys it does know from the refusal. Without them the server may offer a
// key of another type than the one recorded, and be refused as if it had changed.
func knownAlgorithms(known ssh.HostKeyCallback, addr string) []string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	var keyErr *knownhosts.KeyError
	if !errors.As(known(addr, &net.TCPAddr{IP: net.IPv4zero}, probe), &keyErr) {
		return nil
	}
	var algorithms []string
	for _, k := range keyErr.Want {
		for _, a := range algorithmsFor(k.Key.Type()) {
			if !slices.Contains(algorithms, a) {
				algorithms = append(algorithms, a)
			}
		}
	}
	return algorithms
}

// algorithmsFor are the host key algorithms that ask for a key of keyType.
func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		// The key type names SHA-1 signatures; ask for SHA-2 ones.
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	}
	return []string{keyType}
}

// notPinned is the error for a server whose keys offered all differ from the pin.
func (s *sftpFS) notPinned(offered []ssh.PublicKey) error {
	var keys []string
	for _, k := range offered {
		keys = append(keys, k.Type()+" "+ssh.FingerprintSHA256(k))
	}
	return fmt.Errorf("%w: %s: %s offers host key %s, not the pinned %s: if the server's key was changed, check the new fingerprint with its operator and pin that; otherwise the connection may be intercepted",
		ErrHostKey, s.url, s.addr, strings.Join(keys, ", "), s.pin)
}
