package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
)

// scriptedEngine is fakeEngine with more of the engine acted out, each part
// only when a test sets it: the first-start mark kept per database container,
// the front's TLS directory, volume labels and sizes, image labels, the
// restore test's answers, and failures of chosen execs.
type scriptedEngine struct {
	*fakeEngine
	// marked, when set, keeps the mark per database container, not once for all.
	marked map[string]bool
	// sql is every psql command run, as "container: SQL".
	sql []string
	// tls is the front's TLS directory (file → content) and staged what
	// stage-tls wrote for commit-tls; refuseTLS is an nginx that refuses it.
	tls, staged map[string]string
	refuseTLS   bool
	// challenges are the HTTP-01 answers served, by token.
	challenges map[string]string
	// labels, when set, are the volumes' labels; usage their sizes and emptiness.
	labels map[string]map[string]string
	usage  map[string]engine.VolumeUsage
	// imageLabels are the labels of images, which it then has.
	imageLabels map[string]map[string]string
	// http answers the restore test's requests by path (a whole HTTP response);
	// tokenOut and attachmentOut are what psql prints for its key and for the
	// newest attachment.
	http                    map[string]string
	tokenOut, attachmentOut string
	// apiKey is the key psql gave the administrator: a request without it is 401.
	apiKey string
	// failWget fails the smoke check; failPoint fails the pointing of the
	// front at that upstream text.
	failWget  bool
	failPoint string
	// task is the container of a swarm service's task on this node, or taskErr.
	task    string
	taskErr error
}

func newScripted() *scriptedEngine {
	return &scriptedEngine{fakeEngine: &fakeEngine{volumes: map[string]bool{}}}
}

func (s *scriptedEngine) Image(ctx context.Context, ref string) (engine.ImageInfo, bool, error) {
	info, ok, err := s.fakeEngine.Image(ctx, ref)
	if l, has := s.imageLabels[ref]; has {
		info.Labels, ok = l, true
	}
	return info, ok, err
}

func (s *scriptedEngine) SwarmTaskContainer(context.Context, string) (string, error) {
	return s.task, s.taskErr
}

func (s *scriptedEngine) VolumeLabels(ctx context.Context, name string) (map[string]string, bool, error) {
	if s.labels == nil {
		return s.fakeEngine.VolumeLabels(ctx, name)
	}
	return s.labels[name], s.volumes[name], nil
}

func (s *scriptedEngine) VolumeUsage(_ context.Context, _ string, names []string) (map[string]engine.VolumeUsage, error) {
	out := map[string]engine.VolumeUsage{}
	for _, n := range names {
		if u, ok := s.usage[n]; ok {
			out[n] = u
		}
	}
	return out, nil
}

func (s *scriptedEngine) Exec(ctx context.Context, id string, cmd []string, o engine.ExecOptions) error {
	switch cmd[0] {
	case "psql":
		sql := cmd[len(cmd)-1]
		s.sql = append(s.sql, id+": "+sql)
		switch {
		case strings.Contains(sql, "INSERT INTO tokens"):
			_, key, _ := strings.Cut(sql, "'api', '")
			s.apiKey, _, _ = strings.Cut(key, "'")
			io.WriteString(o.Stdout, s.tokenOut)
			return nil
		case strings.Contains(sql, "FROM attachments"):
			io.WriteString(o.Stdout, s.attachmentOut)
			return nil
		case s.marked != nil && strings.Contains(sql, "COMMENT ON DATABASE"):
			s.marked[id] = true
			return nil
		case s.marked != nil && strings.Contains(sql, "shobj_description"):
			if s.marked[id] {
				io.WriteString(o.Stdout, configuredMark+"\n")
			}
			return nil
		}
	case "wget":
		if s.failWget {
			return errors.New("wget: server returned error: HTTP/1.1 502 Bad Gateway")
		}
	case "bash":
		return s.answer(o)
	case "sh":
		if s.tls != nil {
			if done, err := s.tlsScript(cmd, o); done {
				return err
			}
		}
		if cmd[3] == "point-front" && s.failPoint != "" {
			b, _ := io.ReadAll(o.Stdin)
			if string(b) == s.failPoint {
				return errors.New("nginx: [emerg] host not found in upstream")
			}
			o.Stdin = strings.NewReader(string(b))
		}
	}
	return s.fakeEngine.Exec(ctx, id, cmd, o)
}

// tlsScript acts out https.go's scripts on the TLS directory.
func (s *scriptedEngine) tlsScript(cmd []string, o engine.ExecOptions) (bool, error) {
	tlsDir := mustRedmine().Generations.TLSDir
	switch cmd[3] {
	case "read-front":
		if dir, file := path.Split(cmd[4]); path.Clean(dir) == tlsDir {
			io.WriteString(o.Stdout, s.tls[file])
			return true, nil
		}
	case "stage-tls":
		b, _ := io.ReadAll(o.Stdin)
		if s.staged == nil {
			s.staged = map[string]string{}
		}
		s.staged[cmd[5]] = string(b)
		return true, nil
	case "challenge":
		if s.challenges == nil {
			s.challenges = map[string]string{}
		}
		if len(cmd) == 7 {
			b, _ := io.ReadAll(o.Stdin)
			s.challenges[cmd[5]] = string(b)
		} else {
			delete(s.challenges, cmd[5])
		}
		return true, nil
	case "commit-tls":
		if s.refuseTLS {
			s.staged = nil
			return true, errors.New("nginx: [emerg] cannot load certificate")
		}
		io.WriteString(o.Stdout, "101 102\n")
		for _, name := range cmd[5:] {
			if v, ok := s.staged[name]; ok {
				s.tls[name] = v
			} else {
				delete(s.tls, name)
			}
		}
		s.staged = nil
		return true, nil
	}
	return false, nil
}

// answer is the application's answer to the restore test's request on stdin.
func (s *scriptedEngine) answer(o engine.ExecOptions) error {
	req, err := http.ReadRequest(bufio.NewReader(o.Stdin))
	if err != nil {
		return err
	}
	resp, ok := s.http[req.URL.RequestURI()]
	switch {
	case s.apiKey == "" || req.Header.Get("X-Redmine-API-Key") != s.apiKey:
		resp = httpAnswer(401, "Unauthorized", "")
	case !ok:
		resp = httpAnswer(404, "Not Found", "")
	}
	_, err = io.WriteString(o.Stdout, resp)
	return err
}

// httpAnswer is a whole HTTP/1.0 response.
func httpAnswer(code int, status, body string) string {
	return fmt.Sprintf("HTTP/1.0 %d %s\r\nContent-Length: %d\r\n\r\n%s", code, status, len(body), body)
}

// mustRedmine is the catalogue's redmine stack.
func mustRedmine() catalog.Stack {
	st, err := catalog.LookupStack("redmine")
	if err != nil {
		panic(err)
	}
	return st
}

var _ Engine = (*scriptedEngine)(nil)
