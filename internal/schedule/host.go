package schedule

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stackctl/stackctl/internal/atomicfile"
	"github.com/stackctl/stackctl/internal/errs"
)

// Host is the machine schedules are installed on.
type Host struct {
	// Root is where the machine's /etc and /run are: "/" on the machine
	// itself, a test's directory or an image being built otherwise.
	Root string
	// Systemctl runs systemctl with args; nil runs the real one, only when
	// Root is / (see Enables).
	Systemctl func(ctx context.Context, args ...string) error
}

// Enables reports whether Install enables and starts a timer (and Remove
// stops it): systemd runs at Root, and Root is the running system, or a
// test's with its own Systemctl.
func (h Host) Enables() bool {
	return h.Running() && (h.Systemctl != nil || filepath.Clean(h.Root) == "/")
}

// Running reports whether systemd runs on the host, as sd_booted(3) tells:
// /run/systemd/system is a directory.
func (h Host) Running() bool {
	fi, err := os.Stat(filepath.Join(h.Root, "run/systemd/system"))
	return err == nil && fi.IsDir()
}

// Mode is how a schedule is installed on the host: systemd where it runs,
// cron otherwise.
func (h Host) Mode() Mode {
	if h.Running() {
		return Systemd
	}
	return Cron
}

func (h Host) path(rel string) string { return filepath.Join(h.Root, rel) }

func (h Host) systemctl(ctx context.Context, args ...string) error {
	if h.Systemctl != nil {
		return h.Systemctl(ctx, args...)
	}
	out, err := exec.CommandContext(ctx, "systemctl", args...).CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("%w: systemd runs, but there is no systemctl to run: %v", errs.ErrUnavailable, err)
	}
	if err != nil {
		return fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, errs.LastLines(string(out), 5))
	}
	return nil
}

// Install writes j's files in mode m (replacing the stack's schedule of j's
// kind, in either mode, if it has one; its schedule of another kind stays)
// and, where systemd runs and m is Systemd, reloads systemd and enables and
// starts the timer (see Enables). It returns the paths written.
func (h Host) Install(ctx context.Context, j Job, m Mode) ([]string, error) {
	files, err := j.Files(m)
	if err != nil {
		return nil, err
	}
	// What an earlier schedule of the stack left that this one does not write.
	if err := h.clear(ctx, j.Kind, j.name(), files); err != nil {
		return nil, err
	}
	var written []string
	for _, f := range files {
		p := h.path(f.Path)
		dir := 0o755
		if f.Secret {
			dir = 0o700
		}
		if err := os.MkdirAll(filepath.Dir(p), fs.FileMode(dir)); err != nil {
			return written, fmt.Errorf("installing the schedule of stack %s: %w", j.Stack, err)
		}
		if err := atomicfile.WriteFile(p, f.Content, f.Mode); err != nil {
			return written, fmt.Errorf("installing the schedule of stack %s: %w", j.Stack, err)
		}
		written = append(written, p)
	}
	if m == Systemd && h.Enables() {
		if err := h.systemctl(ctx, "daemon-reload"); err != nil {
			return written, err
		}
		if err := h.systemctl(ctx, "enable", "--now", j.Unit()+".timer"); err != nil {
			return written, err
		}
	}
	return written, nil
}

// clear removes the installed files of the job of kind k for name that keep
// are not, stopping its timer first when it is one of them.
func (h Host) clear(ctx context.Context, k Kind, name string, keep []File) error {
	var gone []string
	for _, rel := range stackFiles(k, name) {
		if slices.ContainsFunc(keep, func(f File) bool { return f.Path == rel }) {
			continue
		}
		if _, err := os.Lstat(h.path(rel)); err == nil {
			gone = append(gone, rel)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	unitGone := slices.Contains(gone, timerPath(k, name))
	if unitGone && h.Enables() {
		if err := h.systemctl(ctx, "disable", "--now", unitName(k, name)+".timer"); err != nil {
			return err
		}
	}
	for _, rel := range gone {
		if err := os.Remove(h.path(rel)); err != nil {
			return fmt.Errorf("removing the %s schedule of stack %s: %w", k, name, err)
		}
	}
	if unitGone && h.Enables() {
		return h.systemctl(ctx, "daemon-reload")
	}
	return nil
}

// Remove stops and removes the job of kind k for name (a stack, and its
// instance: see InstanceName), whichever mode installed it, and returns the
// paths removed. The stack's job of another kind stays.
func (h Host) Remove(ctx context.Context, k Kind, name string) ([]string, error) {
	found := h.installed(k, name)
	if len(found) == 0 {
		msg := fmt.Sprintf("stack %s has no %s schedule: 'stackctl schedule list' shows those there are", name, k)
		for _, other := range Kinds {
			if other != k && len(h.installed(other, name)) > 0 {
				msg += fmt.Sprintf("; its %s schedule is removed with --job %s", other, other)
			}
		}
		return nil, fmt.Errorf("%w: %s", errs.ErrNotFound, msg)
	}
	return found, h.clear(ctx, k, name, nil)
}

// installed are the paths of the files the job of kind k for name has on the host.
func (h Host) installed(k Kind, name string) []string {
	var found []string
	for _, rel := range stackFiles(k, name) {
		if fileExists(h.path(rel)) {
			found = append(found, h.path(rel))
		}
	}
	return found
}

// Installed is a schedule found on the host.
type Installed struct {
	Stack string `json:"stack"`
	// Instance is the stack's instance, "" for the stack itself.
	Instance string `json:"instance,omitempty"`
	// Job is what the schedule runs: backup or update.
	Job      Kind   `json:"job"`
	Mode     Mode   `json:"mode"`
	Schedule string `json:"schedule"`
	// Command is the command line as the unit or the cron entry has it.
	Command string   `json:"command"`
	Files   []string `json:"files"`
}

// List finds the schedules installed on the host, backups and updates, by
// stack, instance and job.
func (h Host) List() ([]Installed, error) {
	var out []Installed
	for _, k := range Kinds {
		for _, m := range []struct {
			mode Mode
			glob string
		}{{Systemd, timerPath(k, "*")}, {Cron, cronPath(k, "*")}} {
			paths, err := filepath.Glob(h.path(m.glob))
			if err != nil {
				return nil, err
			}
			for _, p := range paths {
				if strings.Contains(filepath.Base(p), ".partial-") {
					continue
				}
				in, err := h.read(k, m.mode, p)
				if err != nil {
					return nil, err
				}
				out = append(out, in)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Installed) int {
		return cmp.Or(strings.Compare(a.Stack, b.Stack), strings.Compare(a.Instance, b.Instance),
			slices.Index(Kinds, a.Job)-slices.Index(Kinds, b.Job))
	})
	return out, nil
}

// read reads back the schedule of a timer or a cron entry of a job of kind k
// from its header (see Job.header), and the command from the service or the
// entry. The name the job's files have (the stack, and its instance) is the
// file's own: the header names the stack alone.
func (h Host) read(k Kind, m Mode, path string) (Installed, error) {
	lines, err := readLines(path)
	if err != nil {
		return Installed{}, err
	}
	name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), unitName(k, "")), ".timer")
	f := strings.Fields(strings.TrimPrefix(lines[0], "#"))
	by := "stackctl schedule " + string(k)
	if len(f) != 6 || strings.Join(f[:3], " ") != by || (name != f[3] && !strings.HasPrefix(name, f[3]+"-")) {
		return Installed{}, fmt.Errorf("%s was not written by '%s': remove it by hand if it is not yours", path, by)
	}
	in := Installed{Stack: f[3], Instance: strings.TrimPrefix(strings.TrimPrefix(name, f[3]), "-"), Job: k, Mode: m,
		Schedule: strings.TrimPrefix(f[4], "--") + " " + f[5], Files: []string{path}}
	cmdFile := path
	if m == Systemd {
		cmdFile = h.path(servicePath(k, name))
		in.Files = append(in.Files, cmdFile)
		if lines, err = readLines(cmdFile); err != nil {
			return Installed{}, err
		}
	}
	for _, l := range lines {
		if c, ok := strings.CutPrefix(l, "ExecStart="); ok && m == Systemd {
			in.Command = c
		}
		if m == Cron && l != "" && !strings.HasPrefix(l, "#") && !strings.Contains(strings.SplitN(l, " ", 2)[0], "=") {
			in.Command = l
		}
	}
	if env := h.path(envFilePath(k, name)); fileExists(env) {
		in.Files = append(in.Files, env)
	}
	return in, nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return lines, sc.Err()
}

func fileExists(p string) bool { _, err := os.Lstat(p); return err == nil }
