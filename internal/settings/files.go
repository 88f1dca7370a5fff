package settings

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// fileKey is a key naming a file. A secret's file is checked as stackctl's
// own are; one a server the settings also name is given or shown (a password,
// the ACME account's key) is confined to where a settings file may take it
// from (see secretFile), and a password's must not hold a key.
type fileKey struct {
	key, path                  string
	secret, confined, password bool
}

// files are the keys naming files.
func (l Loaded) files() []fileKey {
	return []fileKey{
		{key: "tls.certificate_file", path: l.TLS.CertificateFile},
		{key: "tls.key_file", path: l.TLS.KeyFile, secret: true},
		{key: "tls.acme.account_key_file", path: l.TLS.ACME.AccountKeyFile, secret: true, confined: true},
		{key: "tls.acme.ca_file", path: l.TLS.ACME.CAFile},
		{key: "mail.smtp.password_file", path: l.Mail.SMTP.PasswordFile, secret: true, confined: true, password: true},
		{key: "mail.imap.password_file", path: l.Mail.IMAP.PasswordFile, secret: true, confined: true, password: true},
	}
}

// file is the fileKey of key, one of files'.
func (l Loaded) file(key string) fileKey {
	i := slices.IndexFunc(l.files(), func(f fileKey) bool { return f.key == key })
	return l.files()[i]
}

// SecretDir is where a secret file the settings name may be kept outside
// the site's directory.
const SecretDir = "/etc/stackctl"

// refusal is a secret file refused for where it is or what it holds.
type refusal struct{ msg, fix string }

func (r *refusal) Error() string { return r.msg + ": " + r.fix }
func (r *refusal) Unwrap() error { return errs.ErrInvalidInput }

// secretFile checks the secret file f names and returns its path with its
// directory's symbolic links resolved, the file to read. A settings file may
// come with a site from elsewhere, and it names the servers too: were any
// private file of the user's allowed, /root/.ssh/id_ed25519 would go to its
// SMTP server as the password. So no secret is taken from an .ssh or .gnupg
// directory, a confined one only from the site's directory or SecretDir, and
// a password file that holds a private key is refused.
func (l Loaded) secretFile(f fileKey) (string, error) {
	path := l.filePath(f.path)
	dir, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		return "", err
	}
	real := filepath.Join(dir, filepath.Base(path))
	where := SecretDir
	if site := l.siteDir(); site != "" {
		where = "the site's directory " + site + " or " + SecretDir
	}
	fix := fmt.Sprintf("keep the secret in a file of its own in %s, mode 0600, and name that file", where)
	for _, part := range strings.Split(dir, string(filepath.Separator)) {
		if part == ".ssh" || part == ".gnupg" {
			return "", &refusal{fmt.Sprintf("%s is in a %s directory, where keys are kept, not the settings' secrets", path, part), fix}
		}
	}
	if f.confined && !l.inSecretDir(real) {
		return "", &refusal{fmt.Sprintf("%s is outside %s, where a secret sent to a server the settings name must be", path, where), fix}
	}
	if err := state.CheckPrivate(real); err != nil {
		return "", err
	}
	if f.password {
		v, err := state.ReadSecretFile(real)
		if err != nil {
			return "", err
		}
		if kind := privateKey(v); kind != "" {
			return "", &refusal{fmt.Sprintf("%s holds %s, not a password", path, kind), "put the password alone in a file of its own, mode 0600, and name that file"}
		}
	}
	return real, nil
}

// siteDir is the directory of the settings file; "" when there is none.
func (l Loaded) siteDir() string {
	if l.Path == "" {
		return ""
	}
	dir, err := filepath.Abs(filepath.Dir(l.Path))
	if err != nil {
		return ""
	}
	return dir
}

// inSecretDir says whether path, its directory's links resolved, is in the
// site's directory or SecretDir, theirs resolved too.
func (l Loaded) inSecretDir(path string) bool {
	for _, root := range []string{l.siteDir(), SecretDir} {
		if root == "" {
			continue
		}
		r, err := filepath.EvalSymlinks(root)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(r, path); err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// keyMarks are how files holding private keys begin: PEM (OpenSSH's own
// format, PKCS#8, PGP's armour), age and PuTTY.
var keyMarks = []struct{ mark, kind string }{
	{"-----BEGIN ", "a PEM block (a key or a certificate)"},
	{"AGE-SECRET-KEY-", "an age identity"},
	{"PuTTY-User-Key-File-", "a PuTTY key"},
}

// privateKey says what kind of key v holds, or "" for none.
func privateKey(v string) string {
	for _, line := range strings.Split(v, "\n") {
		for _, m := range keyMarks {
			if strings.HasPrefix(strings.TrimSpace(line), m.mark) {
				return m.kind
			}
		}
	}
	return ""
}

// filePath resolves a path given in the settings: a relative one is taken from
// the settings file's directory.
func (l Loaded) filePath(p string) string {
	if p == "" || filepath.IsAbs(p) || l.Path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(l.Path), p)
}

// CheckFiles checks the files the settings name, reporting every problem
// with the line that names the file (an *Error): each must exist and be a
// regular file, and a secret's must be yours with mode 0600 or stricter, as
// stackctl's own secret files are (state.CheckPrivate), and where a settings
// file may name it (see secretFile). up and validate run it; decoding alone
// does not touch the file system.
func (l Loaded) CheckFiles() error {
	var ps problems
	for _, f := range l.files() {
		if f.path == "" {
			continue
		}
		path := l.filePath(f.path)
		var err error
		if f.secret {
			_, err = l.secretFile(f)
		} else {
			err = regular(path)
		}
		if err == nil {
			continue
		}
		msg := strings.TrimPrefix(err.Error(), errs.ErrInvalidInput.Error()+": ")
		fix := "create it, or correct the path"
		var r *refusal
		switch {
		case errors.Is(err, fs.ErrNotExist):
			msg = path + " does not exist"
		case errors.As(err, &r):
			msg, fix = r.msg, r.fix
		case errors.Is(err, errs.ErrInvalidInput) && f.secret:
			fix = "a secret's file must be a regular file of yours with mode 0600 or stricter"
		case errors.Is(err, errs.ErrInvalidInput):
			fix = "name a regular file"
		default:
			fix = "check the path and its permissions"
		}
		ps.add(l.lines[f.key], f.key, msg, fix)
	}
	return ps.err(l.Path)
}

// regular refuses path unless it is a regular file that can be read.
func regular(path string) error {
	// O_NONBLOCK: a FIFO in its place does not hang the open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", errs.ErrInvalidInput, path)
	}
	return nil
}
