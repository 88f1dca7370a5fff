package main

import (
	"bytes"
	"io"
	"os"
	"syscall"
)

// killAtWriter is stderr for fault injection: once the text at has been
// written, stackctl kills itself (SIGKILL), exactly there, as a machine that
// loses power would stop it. The end-to-end tests use it to stop a command at
// each phase of a change; a test that waits to read the line and then kills
// the process would stop it later, by how late it is scheduled.
type killAtWriter struct {
	w    io.Writer
	at   []byte
	tail []byte
}

// withKillAt is w, or w killing stackctl after it prints at
// ($STACKCTL_KILL_AT) when that is set.
func withKillAt(w io.Writer) io.Writer {
	at := os.Getenv("STACKCTL_KILL_AT")
	if at == "" {
		return w
	}
	return &killAtWriter{w: w, at: []byte(at)}
}

func (k *killAtWriter) Write(p []byte) (int, error) {
	n, err := k.w.Write(p)
	k.tail = append(k.tail, p[:n]...)
	if bytes.Contains(k.tail, k.at) {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way: write nothing more
	}
	if keep := len(k.at); len(k.tail) > keep {
		k.tail = append(k.tail[:0], k.tail[len(k.tail)-keep:]...)
	}
	return n, err
}
