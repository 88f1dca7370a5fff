package validate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/stack"
)

// composeFile is one compose file's path and content, read once.
type composeFile struct {
	file    string
	content []byte
}

func readComposeFiles(paths []string) ([]composeFile, error) {
	out := make([]composeFile, 0, len(paths))
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrUnreadable, p, err)
		}
		b, err := os.ReadFile(abs)
		if err != nil {
			return nil, fmt.Errorf("%w: %v: check the path and its permissions", ErrUnreadable, err)
		}
		out = append(out, composeFile{file: abs, content: b})
	}
	return out, nil
}

// Files validates compose files as 'docker compose -f FILE...' would load them:
// the project directory is the first file's, variables come from the process
// environment and that directory's .env, and every profile is enabled. A
// Swarm stack file (see isSwarmFile) is loaded as 'docker stack deploy'
// would: without the .env, its required variables standing in when unset.
func Files(ctx context.Context, paths []string) (Report, error) {
	files, err := readComposeFiles(paths)
	if err != nil {
		return Report{}, err
	}
	dir := filepath.Dir(files[0].file)
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	var sw *swarmRun
	if isSwarmFile(files[0].content) {
		sw = &swarmRun{content: files[0].content}
		placeholders(files[0].content, env)
	}
	var envErr error
	if dotEnv := filepath.Join(dir, ".env"); fileExists(dotEnv) {
		vars, err := dotenv.GetEnvFromFile(env, []string{dotEnv})
		envErr = err
		if sw != nil {
			sw.dotEnvFile, sw.dotEnv, envErr = dotEnv, vars, nil
		}
		for k, v := range vars {
			if _, set := env[k]; !set && sw == nil {
				env[k] = v
			}
		}
	}
	findings := check(ctx, files, sw, func() (*types.Project, error) {
		if envErr != nil {
			return nil, envErr
		}
		if sw != nil {
			return loadComposeFiles(ctx, withoutVersion(files), dir, env)
		}
		return loadComposeFiles(ctx, files, dir, env)
	})
	r := Report{Findings: findings}
	r.sort()
	return r, nil
}

// loadComposeFiles loads compose files from memory with compose-go's full checks.
func loadComposeFiles(ctx context.Context, files []composeFile, dir string, env map[string]string) (*types.Project, error) {
	configs := make([]types.ConfigFile, len(files))
	for i, s := range files {
		configs[i] = types.ConfigFile{Filename: s.file, Content: s.content}
	}
	name := loader.NormalizeProjectName(filepath.Base(dir))
	if name == "" {
		name = "validate"
	}
	return loader.LoadWithContext(ctx, types.ConfigDetails{WorkingDir: dir, ConfigFiles: configs, Environment: env}, func(o *loader.Options) {
		o.SetProjectName(name, false)
		o.ResolvePaths = true
		o.Profiles = []string{"*"}
	})
}

// Stacks validates stackctl's stacks as stackctl loads them, under each of
// profiles. A finding that shows under some profiles only names them.
func Stacks(ctx context.Context, root stack.BuildDir, sts []catalog.Stack, profiles []catalog.Profile) (Report, error) {
	var r Report
	for _, st := range sts {
		files, err := readComposeFiles([]string{root.ComposeFile(st)})
		if err != nil {
			return Report{}, err
		}
		seen := map[string]int{}
		inProfiles := map[string][]string{}
		for _, p := range profiles {
			fs := check(ctx, files, nil, func() (*types.Project, error) {
				return root.Load(ctx, st, catalog.Settings{Profile: p, Listen: catalog.DefaultListen})
			})
			for _, f := range fs {
				k := f.key()
				if _, ok := seen[k]; !ok {
					seen[k] = len(r.Findings)
					r.Findings = append(r.Findings, f)
				}
				inProfiles[k] = append(inProfiles[k], string(p))
			}
		}
		for k, i := range seen {
			if len(inProfiles[k]) < len(profiles) {
				r.Findings[i].Profiles = inProfiles[k]
			}
		}
	}
	r.sort()
	return r, nil
}

// check loads a project and applies every rule: compose-go's loading errors,
// the compose rules, and the Dockerfile rules of what the services build;
// with sw, those of a Swarm stack file too.
func check(ctx context.Context, files []composeFile, sw *swarmRun, load func() (*types.Project, error)) []Finding {
	run := &composeRun{swarm: sw}
	for _, s := range files {
		run.indexes = append(run.indexes, newYAMLIndex(s.file, s.content))
	}
	p, err := safeLoad(load)
	if err != nil {
		// An error in an included file is placed there: index it first.
		run.indexRelated()
		return run.loadFindings(err)
	}
	run.project = p
	run.indexRelated()
	svcs := run.services()
	run.dockerfiles(ctx, svcs)
	run.check(svcs)
	return run.findings
}

// indexRelated adds the files that the loaded files include or extend from, so
// that a service defined there is placed there. Only regular files the loader
// has just read are opened.
func (c *composeRun) indexRelated() {
	seen := map[string]bool{}
	for _, x := range c.indexes {
		seen[x.file] = true
	}
	for i := 0; i < len(c.indexes); i++ {
		x := c.indexes[i]
		for _, rel := range x.related() {
			p := rel
			if !filepath.IsAbs(p) {
				p = filepath.Join(filepath.Dir(x.file), p)
			}
			if seen[p] {
				continue
			}
			seen[p] = true
			if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() || fi.Size() > maxComposeFile {
				continue
			}
			if b, err := os.ReadFile(p); err == nil {
				c.indexes = append(c.indexes, newYAMLIndex(p, b))
			}
		}
	}
}

// maxComposeFile bounds the size of a file indexRelated reads.
const maxComposeFile = 4 << 20

// loadFindings reports a loading error, one finding per error compose-go joined.
func (c *composeRun) loadFindings(err error) []Finding {
	var out []Finding
	for _, e := range splitJoined(err) {
		file, line := c.errorLocation(e)
		fix := "make the file load with 'docker compose config'"
		if strings.Contains(e.Error(), "STACKCTL_") {
			fix = "stackctl's stacks need the variables stackctl sets: validate them by name (stackctl validate redmine)"
		}
		out = append(out, Finding{Rule: ruleLoad, Severity: Error, File: file, Line: line, Message: e.Error(), Fix: fix})
	}
	return out
}

// splitJoined returns the errors an errors.Join in err's chain holds (compose-go
// joins one per interpolation failure, nested), or err alone.
func splitJoined(err error) []error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			var out []error
			for _, sub := range j.Unwrap() {
				out = append(out, splitJoined(sub)...)
			}
			return out
		}
	}
	return []error{err}
}

// safeLoad turns a panic in the loader into an error: validate reports on any
// input, however broken, and never crashes on it.
func safeLoad(load func() (*types.Project, error)) (p *types.Project, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("compose-go cannot load this file (it panicked: %v)", r)
		}
	}()
	return load()
}

var (
	// yamlLineRE finds the line a YAML error names: go-yaml's "line N:" (the last
	// one: "line 1: line 4: mapping key already defined at line 2" is about line 4),
	// else its scanner's "at L5.C9", else any "line N".
	yamlLineRE    = regexp.MustCompile(`line (\d+):`)
	yamlPosRE     = regexp.MustCompile(`\bL(\d+)\.C\d+`)
	yamlAnyLineRE = regexp.MustCompile(`line (\d+)`)
	// schemaPathRE finds the key path compose-go's schema and consistency errors name.
	schemaPathRE = regexp.MustCompile(`\b((?:services|volumes|networks|secrets|configs|models)(?:\.[A-Za-z0-9_.\-\[\]]+)?)`)
	// serviceNameRE finds the service a consistency error names: service "web" depends on ...
	serviceNameRE = regexp.MustCompile(`service "([^"]+)"`)
)

// errorLocation places a loading error: a "line N" it mentions, else the key
// path it names, else the start of the file it names.
func (c *composeRun) errorLocation(err error) (string, int) {
	msg := err.Error()
	file := ""
	for _, x := range c.indexes {
		if strings.Contains(msg, x.file) {
			file = x.file
		}
	}
	named := file != ""
	if !named && len(c.indexes) > 0 {
		file = c.indexes[0].file
	}
	if ms := yamlLineRE.FindAllStringSubmatch(msg, -1); ms != nil {
		n, _ := strconv.Atoi(ms[len(ms)-1][1])
		return file, n
	}
	for _, re := range []*regexp.Regexp{yamlPosRE, yamlAnyLineRE} {
		if m := re.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			return file, n
		}
	}
	// The key path is looked for in the message without the files' names: a
	// project folder called configs/ or services/ is not a key.
	for _, x := range c.indexes {
		msg = strings.ReplaceAll(msg, x.file, "")
	}
	var path []string
	if m := schemaPathRE.FindStringSubmatch(msg); m != nil {
		for _, seg := range strings.Split(m[1], ".") {
			if _, err := strconv.Atoi(seg); err == nil {
				seg = "[" + seg + "]"
			}
			path = append(path, seg)
		}
	} else if m := serviceNameRE.FindStringSubmatch(msg); m != nil {
		path = []string{"services", m[1]}
	}
	switch {
	case path != nil && !named:
		// No file named: the one that holds the most of the key path.
		return c.locate(path)
	case path != nil:
		for _, x := range c.indexes {
			if x.file == file {
				line, _ := x.locate(path)
				return file, line
			}
		}
	}
	return file, 0
}

// dockerfiles lints the Dockerfile of every service that builds one, once per
// Dockerfile, build args and target, and describes the image it builds for the
// compose rules. A service's opt-outs cover the Dockerfile rules too.
func (c *composeRun) dockerfiles(ctx context.Context, svcs []*service) {
	// Services that build the same Dockerfile with the same arguments and target
	// share one lint: its findings, unfiltered, are reported once, under the first
	// service that does not opt out of them.
	type checked struct {
		findings []Finding
		info     *imageInfo
	}
	done := map[string]*checked{}
	reported := map[string]bool{}
	for _, s := range svcs {
		if s.Build == nil {
			continue
		}
		file, content, inline, err := dockerfileOf(s.Build)
		if file == "" {
			continue // a remote build context: nothing to read here
		}
		offset := 0
		if inline {
			// findings go to the compose file, under the dockerfile_inline key
			file, offset = c.locate([]string{"services", s.Name, "build", "dockerfile_inline"})
		}
		args := map[string]string{}
		for k, v := range s.Build.Args {
			if v != nil {
				args[k] = *v
			}
		}
		// The content is in the key: every inline Dockerfile of a compose file has
		// that file's name, and two of them are not the same Dockerfile.
		key := fmt.Sprint(file, "\x00", string(content), "\x00", args, "\x00", s.Build.Target)
		ck, ok := done[key]
		if !ok && err != nil {
			c.add(s, ruleDockerfileLoad, Error, []string{"build"}, fmt.Sprintf("cannot read the Dockerfile: %v", err),
				"build from a Dockerfile that exists in the build context")
			done[key] = &checked{}
			continue
		}
		if !ok {
			fs, info := dockerfileCheck(ctx, file, content, args, s.Build.Target, "")
			for i := range fs {
				if fs[i].Line > 0 {
					fs[i].Line += offset
				}
			}
			ck = &checked{findings: fs, info: info}
			done[key] = ck
		}
		s.image = ck.info
		for _, f := range ck.findings {
			id := fmt.Sprint(f.Rule, "\x00", f.File, "\x00", f.Line, "\x00", f.Message)
			if s.ignore[f.Rule] != "" || reported[id] {
				continue
			}
			reported[id] = true
			f.Service = s.Name
			c.findings = append(c.findings, f)
		}
	}
}

// dockerfileOf returns the path and content of the Dockerfile a build uses;
// file is "" for a remote context.
func dockerfileOf(b *types.BuildConfig) (file string, content []byte, inline bool, err error) {
	if b.DockerfileInline != "" {
		return "dockerfile_inline", []byte(b.DockerfileInline), true, nil
	}
	if strings.Contains(b.Context, "://") || strings.HasPrefix(b.Context, "git@") {
		return "", nil, false, nil
	}
	file = b.Dockerfile
	if file == "" {
		file = "Dockerfile"
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(b.Context, file)
	}
	content, err = os.ReadFile(file)
	return file, content, false, err
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, fs.ErrNotExist)
}
