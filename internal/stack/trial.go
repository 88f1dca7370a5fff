package stack

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
	"github.com/stackctl/stackctl/internal/termsafe"
)

// The steps of a restore test, in order; a failure names the one it failed at.
const (
	StepRestore    = "restore"
	StepStart      = "start"
	StepLogIn      = "log in"
	StepIssue      = "read the newest issue"
	StepAttachment = "read the newest attachment"
)

// TrialResult is what a restore test proved.
type TrialResult struct {
	// Gen is the throwaway generation it ran (removed since).
	Gen int
	// Steps are the steps that passed, each with what it read.
	Steps []string
}

// TrialError is a restore test that failed at Step.
type TrialError struct {
	Step string
	Err  error
}

func (e *TrialError) Error() string {
	return fmt.Sprintf("the restore test failed at %q: %v", e.Step, e.Err)
}

func (e *TrialError) Unwrap() error { return e.Err }

// Trial proves that the data seed holds restores into a working tracker: it
// makes a throwaway generation of st filled by seed beside the one that
// serves (which is never touched), starts it privately (no front points at
// it, nothing is published, its mail is never polled: its data names another
// container), then, as its administrator, reads the newest issue and
// downloads the newest attachment, checked against the digest its database
// holds. The generation is removed whatever happened; killed, the next
// command removes it. A failure is a *TrialError naming the step.
func (r Runner) Trial(ctx context.Context, seed Seed, source string, o UpOptions) (TrialResult, error) {
	st := r.Stack
	if st.Generations == nil || st.Database == nil || st.SettingsTable == "" {
		return TrialResult{}, fmt.Errorf("%w: stack %s has no application data to test a restore of", errs.ErrInvalidInput, st.Name)
	}
	f, err := r.fillGeneration(ctx, seed, state.MadeTrial, source, o)
	if err != nil {
		return TrialResult{}, &TrialError{Step: StepRestore, Err: err}
	}
	defer f.discard(ctx)
	gen := f.prep.Gen
	res := TrialResult{Gen: gen, Steps: []string{StepRestore}}
	if err := r.start(ctx, st.Name, f.prep.Project, true, cmp.Or(o.Timeout, defaultTimeout)); err != nil {
		return res, &TrialError{Step: StepStart, Err: err}
	}
	res.Steps = append(res.Steps, StepStart)
	app, err := r.serviceContainer(ctx, st.Generations.AppService(gen, f.prep.Slot))
	if err != nil {
		return res, &TrialError{Step: StepStart, Err: err}
	}
	c := trialClient{r: r, st: st, gen: gen, app: app, port: st.Generations.AppPort}
	for _, s := range []struct {
		name string
		run  func(context.Context) (string, error)
	}{
		{StepLogIn, c.logIn},
		{StepIssue, c.newestIssue},
		{StepAttachment, c.newestAttachment},
	} {
		said, err := s.run(ctx)
		if err != nil {
			return res, &TrialError{Step: s.name, Err: err}
		}
		res.Steps = append(res.Steps, s.name+": "+said)
	}
	return res, nil
}

// trialClient asks the throwaway generation's application, from inside its
// own container (nothing of it is published), as an administrator of its data.
type trialClient struct {
	r    Runner
	st   catalog.Stack
	gen  int
	app  string
	port uint32
	key  string
}

// logIn gives the first active administrator of the restored data an API key
// and asks who it is: the users, their authentication and the application's
// routes answer. The key is made for, and dies with, the throwaway data (a
// psql argument for that reason only); the REST API is turned on there too,
// whatever the data said.
func (c *trialClient) logIn(ctx context.Context) (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	c.key = hex.EncodeToString(b)
	t := c.st.SettingsTable
	out, err := c.r.psql(ctx, c.gen, fmt.Sprintf(
		"UPDATE %[1]s SET value = '1', updated_on = now() AT TIME ZONE 'UTC' WHERE name = 'rest_api_enabled'; "+
			"INSERT INTO %[1]s (name, value, updated_on) SELECT 'rest_api_enabled', '1', now() AT TIME ZONE 'UTC' WHERE NOT EXISTS (SELECT 1 FROM %[1]s WHERE name = 'rest_api_enabled'); "+
			"INSERT INTO tokens (user_id, action, value, created_on, updated_on) SELECT id, 'api', '%[2]s', now(), now() FROM users "+
			"WHERE admin AND status = 1 ORDER BY id LIMIT 1 RETURNING user_id;", t, c.key))
	if err != nil {
		return "", fmt.Errorf("giving an administrator an API key in the restored database: %w", err)
	}
	// psql prints the commands' tags too: the key went in when a line is the user's ID.
	if !slices.ContainsFunc(strings.Fields(out), isNumber) {
		return "", fmt.Errorf("the restored data has no active administrator")
	}
	var who struct {
		User struct {
			Login string `json:"login"`
		} `json:"user"`
	}
	if err := c.getJSON(ctx, "/users/current.json", &who); err != nil {
		return "", err
	}
	if who.User.Login == "" {
		return "", fmt.Errorf("/users/current.json names no user")
	}
	return "as " + who.User.Login, nil
}

// newestIssue reads the newest issue, closed ones included, in full.
func (c *trialClient) newestIssue(ctx context.Context) (string, error) {
	var list struct {
		Issues []struct {
			ID int `json:"id"`
		} `json:"issues"`
		TotalCount int `json:"total_count"`
	}
	if err := c.getJSON(ctx, "/issues.json?sort=id:desc&limit=1&status_id=*", &list); err != nil {
		return "", err
	}
	if len(list.Issues) == 0 {
		return "none in the data", nil
	}
	var one struct {
		Issue struct {
			Subject string `json:"subject"`
		} `json:"issue"`
	}
	id := list.Issues[0].ID
	if err := c.getJSON(ctx, fmt.Sprintf("/issues/%d.json?include=attachments,journals", id), &one); err != nil {
		return "", err
	}
	if one.Issue.Subject == "" {
		return "", fmt.Errorf("issue #%d has no subject", id)
	}
	return fmt.Sprintf("#%d of %d", id, list.TotalCount), nil
}

// newestAttachment downloads the newest attachment of an issue an
// administrator sees (of a project neither archived nor being deleted: not
// an upload whose form was never sent, whose container is none) and checks
// its size and digest against the database's record: the files volume came
// back with the database that names its files.
func (c *trialClient) newestAttachment(ctx context.Context) (string, error) {
	out, err := c.r.psql(ctx, c.gen, "SELECT a.id || ' ' || a.filesize || ' ' || coalesce(a.digest, '') FROM attachments a "+
		"JOIN issues i ON a.container_type = 'Issue' AND a.container_id = i.id JOIN projects p ON p.id = i.project_id "+
		"WHERE p.status IN (1, 5) ORDER BY a.id DESC LIMIT 1")
	if err != nil {
		return "", fmt.Errorf("reading the newest attachment's record: %w", err)
	}
	f := strings.Fields(out)
	if len(f) == 0 {
		return "none in the data", nil
	}
	if len(f) < 2 {
		return "", fmt.Errorf("the newest attachment's record is %q", strings.TrimSpace(out))
	}
	id, size := f[0], f[1]
	status, body, err := c.get(ctx, "/attachments/download/"+id)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("/attachments/download/%s: HTTP %d", id, status)
	}
	if strconv.Itoa(len(body)) != size {
		return "", fmt.Errorf("attachment %s: %d bytes served, its record says %s", id, len(body), size)
	}
	// Redmine 4 and later record a SHA-256, earlier ones an MD5.
	if len(f) == 3 {
		var got string
		switch want := f[2]; len(want) {
		case 64:
			s := sha256.Sum256(body)
			got = hex.EncodeToString(s[:])
		case 32:
			s := md5.Sum(body)
			got = hex.EncodeToString(s[:])
		}
		if got != "" && got != f[2] {
			return "", fmt.Errorf("attachment %s: its content's digest %s is not the recorded %s", id, got, f[2])
		}
	}
	return fmt.Sprintf("#%s, %s bytes, digest checked", id, size), nil
}

// requestWait bounds one request of the restore test.
const requestWait = 2 * time.Minute

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

func (c *trialClient) getJSON(ctx context.Context, path string, v any) error {
	status, body, err := c.get(ctx, path)
	if err != nil {
		return err
	}
	// The body is the restored application's, from the archive: its start,
	// escaped, in a message.
	if status != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", path, status, termsafe.String(fmt.Sprintf("%.200s", body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: %v: %s", path, err, termsafe.String(fmt.Sprintf("%.200s", body)))
	}
	return nil
}

// get asks the application in its container with bash's /dev/tcp (in both
// Redmine bases, as the health check does), the request, key and all, on the
// program's standard input: nothing secret in an argument.
func (c *trialClient) get(ctx context.Context, path string) (int, []byte, error) {
	req := "GET " + path + " HTTP/1.0\r\nHost: localhost\r\nX-Redmine-API-Key: " + c.key + "\r\n\r\n"
	// timeout: an application that takes the request and never answers must
	// not hang a scheduled backup that holds the stack's lock.
	script := fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d && cat >&3 && timeout %d cat <&3", c.port, int(requestWait/time.Second))
	var out bytes.Buffer
	if err := c.r.Engine.Exec(ctx, c.app, []string{"bash", "-c", script}, engine.ExecOptions{Stdin: strings.NewReader(req), Stdout: &out}); err != nil {
		return 0, nil, fmt.Errorf("asking %s: %w", path, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(&out), nil)
	if err != nil {
		return 0, nil, fmt.Errorf("asking %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}
