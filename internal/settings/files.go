package settings

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// files are the keys naming files, with whether each holds a secret.
func (l Loaded) files() []struct {
	key, path string
	secret    bool
} {
	return []struct {
		key, path string
		secret    bool
	}{
		{"tls.certificate_file", l.TLS.CertificateFile, false},
		{"tls.key_file", l.TLS.KeyFile, true},
		{"tls.acme.account_key_file", l.TLS.ACME.AccountKeyFile, true},
		{"tls.acme.ca_file", l.TLS.ACME.CAFile, false},
		{"mail.smtp.password_file", l.Mail.SMTP.PasswordFile, true},
		{"mail.imap.password_file", l.Mail.IMAP.PasswordFile, true},
	}
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
// stackctl's own secret files are (state.CheckPrivate). up and validate run
// it; decoding alone does not touch the file system.
func (l Loaded) CheckFiles() error {
	var ps problems
	for _, f := range l.files() {
		if f.path == "" {
			continue
		}
		path := l.filePath(f.path)
		var err error
		if f.secret {
			err = state.CheckPrivate(path)
		} else {
			err = regular(path)
		}
		if err == nil {
			continue
		}
		msg := strings.TrimPrefix(err.Error(), errs.ErrInvalidInput.Error()+": ")
		fix := "create it, or correct the path"
		switch {
		case errors.Is(err, fs.ErrNotExist):
			msg = path + " does not exist"
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
