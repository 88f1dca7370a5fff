package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/https"
)

// stageTLSScript writes standard input beside file $2 in directory $1, as
// .$2.new, private to nginx (the exec runs as the image's user, nginx), for
// commitTLSScript to put in place: a key never passes through an argument.
const stageTLSScript = `set -eu
umask 077
cat >"$1/.$2.new"
`

// commitTLSScript puts each file named after the directory $1 in place: its
// staged .new, or nothing (the file is removed). Then nginx checks its
// configuration (and puts every file back as it was when it refuses it) and
// reloads gracefully. It prints the old workers' PIDs first, for drainScript.
const commitTLSScript = `set -eu
dir=$1; shift
grep -l 'nginx: worker proces[s]' /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 || true
for f; do
	if [ -e "$dir/$f" ]; then mv -f "$dir/$f" "$dir/.$f.old"; fi
	if [ -e "$dir/.$f.new" ]; then mv -f "$dir/.$f.new" "$dir/$f"; fi
done
if ! nginx -t -q -e stderr; then
	for f; do
		rm -f "$dir/$f"
		if [ -e "$dir/.$f.old" ]; then mv -f "$dir/.$f.old" "$dir/$f"; fi
	done
	exit 1
fi
for f; do rm -f "$dir/.$f.old"; done
nginx -s reload -e stderr
`

// challengeScript writes standard input as the HTTP-01 answer $2 in $1, or
// with no $3, removes it.
const challengeScript = `set -eu
umask 077
mkdir -p "$1"
if [ "$#" -eq 3 ]; then cat >"$1/.$2.new" && mv -f "$1/.$2.new" "$1/$2"; else rm -f "$1/$2"; fi
`

// tlsStamp is the file in the TLS directory that holds the SHA-256 of what
// stackctl last put there: the same again writes and reloads nothing.
const tlsStamp = "stamp"

// HTTPSResult says what ApplyHTTPS did.
type HTTPSResult struct {
	// Mode is the tls mode applied.
	Mode string `json:"mode"`
	// Renewed says a new certificate was made or issued.
	Renewed bool `json:"renewed"`
	// Reloaded says nginx was reloaded onto a changed certificate or configuration.
	Reloaded bool `json:"reloaded"`
	// NotAfter is when the served certificate ends ("" in mode off).
	NotAfter string `json:"not_after,omitempty"`
}

// ApplyHTTPS puts what the site's tls settings say into st's running front:
// the certificate (checked, kept or renewed, or issued through HTTP-01 served
// by the front, see https.Config.Certificate; renewed whatever remains with
// force), its key and nginx's HTTPS configuration, written into the front's
// TLS volume through exec's standard input, then a graceful reload, and a
// wait until the old workers finished their requests; in mode off, none of
// them. What is there already is left alone, and nginx not reloaded.
func (r Runner) ApplyHTTPS(ctx context.Context, force bool) (HTTPSResult, error) {
	st := r.Stack
	g := st.Generations
	c := r.HTTPS
	c.Dir = r.State.TLSDir(st.Name)
	res := HTTPSResult{Mode: https.ModeOff}
	if g == nil || g.TLSDir == "" {
		if c.On() {
			return res, fmt.Errorf("%w: stack %s serves no HTTPS: the site's tls settings apply to the redmine stack", errs.ErrInvalidInput, st.Name)
		}
		return res, nil
	}
	front, err := r.GenContainer(ctx, g.Front, 1)
	if err != nil {
		return res, err
	}
	// Where plain HTTP redirects to when the settings have no url: the port
	// HTTPS is published on.
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return res, err
	}
	if _, c.HTTPSPort, err = catalog.SplitListen(rec.Listen); err != nil {
		return res, err
	}
	want := map[string]string{}
	if c.On() {
		res.Mode = c.Mode
		ch := &challenger{r: r, st: st, front: front}
		b, renewed, err := c.Certificate(ctx, ch, force, r.logf)
		if err != nil {
			return res, fmt.Errorf("stack %s: tls.mode %s: %w", st.Name, c.Mode, err)
		}
		res.Renewed, res.NotAfter = renewed, b.Leaf.NotAfter.UTC().Format("2006-01-02 15:04 MST")
		want = c.NginxFiles(g.TLSDir, b)
	}
	stamp := filesStamp(want)
	have, err := r.readFront(ctx, front, g.TLSDir, tlsStamp)
	if err != nil {
		return res, fmt.Errorf("reading stack %s's HTTPS: %w", st.Name, err)
	}
	// A volume stackctl never wrote is mode off's too.
	if strings.TrimSpace(have) == stamp || (have == "" && len(want) == 0) {
		return res, nil
	}
	if len(want) > 0 {
		want[tlsStamp] = stamp + "\n"
	}
	r.logf("stack %s: putting nginx's HTTPS (tls.mode %s) in place and reloading it", st.Name, res.Mode)
	old, err := r.writeTLS(ctx, front, g.TLSDir, want, append(slices.Clone(https.Files), tlsStamp))
	if err != nil {
		return res, fmt.Errorf("stack %s: nginx refused its HTTPS configuration (tls.mode %s), and serves as before: %w", st.Name, res.Mode, err)
	}
	r.drain(ctx, front, old)
	res.Reloaded = true
	return res, nil
}

// filesStamp identifies a TLS directory's content: "" for none.
func filesStamp(files map[string]string) string {
	if len(files) == 0 {
		return ""
	}
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "%s\x00%d\x00%s", name, len(files[name]), files[name])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeTLS stages each of files into dir in the front's container front,
// through exec's standard input, then puts them in place, removing every
// other of names, and has nginx check and reload its configuration; it
// returns the PIDs of the workers that ran before the reload.
func (r Runner) writeTLS(ctx context.Context, front, dir string, files map[string]string, names []string) (oldWorkers []string, err error) {
	for _, name := range slices.Sorted(maps.Keys(files)) {
		cmd := []string{"sh", "-c", stageTLSScript, "stage-tls", dir, name}
		if err := r.Engine.Exec(ctx, front, cmd, engine.ExecOptions{Stdin: strings.NewReader(files[name])}); err != nil {
			return nil, fmt.Errorf("writing %s: %w", name, err)
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	var old strings.Builder
	cmd := append([]string{"sh", "-c", commitTLSScript, "commit-tls", dir}, names...)
	if err := r.Engine.Exec(ctx, front, cmd, engine.ExecOptions{Stdout: &old}); err != nil {
		return nil, err
	}
	return strings.Fields(old.String()), nil
}

// challenger serves ACME's HTTP-01 answers from st's front: the challenge
// location first (acme.conf, and a reload), then each answer as a file.
type challenger struct {
	r     Runner
	st    catalog.Stack
	front string
	// mu keeps a second challenge from writing acme.conf beside the first.
	mu    sync.Mutex
	ready bool
}

// tokenChars are those of an ACME token (base64url): a token is a file name.
var tokenChars = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func (c *challenger) Present(ctx context.Context, token, keyAuth string) error {
	if !tokenChars.MatchString(token) {
		return fmt.Errorf("the CA's HTTP-01 token %q is not base64url", token)
	}
	dir := c.st.Generations.TLSDir
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready {
		conf := https.ACMEConf(dir)
		have, err := c.r.readFront(ctx, c.front, dir, https.FileACME)
		if err != nil {
			return err
		}
		if have != conf {
			c.r.logf("stack %s: serving ACME's challenges at /.well-known/acme-challenge/ on plain HTTP", c.st.Name)
			old, err := c.r.writeTLS(ctx, c.front, dir, map[string]string{https.FileACME: conf}, nil)
			if err != nil {
				return fmt.Errorf("serving ACME's challenges: %w", err)
			}
			c.r.drain(ctx, c.front, old)
		}
		c.ready = true
	}
	cmd := []string{"sh", "-c", challengeScript, "challenge", path.Join(dir, https.ChallengeDir), token, "write"}
	return c.r.Engine.Exec(ctx, c.front, cmd, engine.ExecOptions{Stdin: strings.NewReader(keyAuth)})
}

func (c *challenger) CleanUp(ctx context.Context, token string) error {
	if !tokenChars.MatchString(token) {
		return nil // never written
	}
	cmd := []string{"sh", "-c", challengeScript, "challenge", path.Join(c.st.Generations.TLSDir, https.ChallengeDir), token}
	return c.r.Engine.Exec(ctx, c.front, cmd, engine.ExecOptions{})
}
