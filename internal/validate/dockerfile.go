package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageInfo is what the compose rules need to know about an image a service
// builds: its final stage's base, user and health check.
type imageInfo struct {
	base        string
	user        string
	hasUser     bool
	healthcheck bool
}

// dockerfileCheck lints one Dockerfile as a service builds it (its build args
// and target) with BuildKit's linter and stackctl's Dockerfile rules.
func dockerfileCheck(ctx context.Context, file string, content []byte, args map[string]string, target, service string) ([]Finding, *imageInfo) {
	var out []Finding
	add := func(rule string, sev Severity, line int, msg, fix string) {
		out = append(out, Finding{Rule: rule, Severity: sev, Service: service, File: file, Line: line, Message: msg, Fix: fix})
	}
	res, err := dockerfile2llb.DockerfileLint(ctx, content, dockerfile2llb.ConvertOpt{
		Config:       dockerui.Config{BuildArgs: args, Target: target},
		SourceMap:    sourceMap(file, content),
		MetaResolver: offlineResolver{},
	})
	if err != nil {
		add(ruleDockerfileLoad, Error, 0, err.Error(), "fix the Dockerfile so that 'docker build --check' accepts it")
		return out, nil
	}
	for _, w := range res.Warnings {
		fix := w.Description
		if w.URL != "" {
			fix += " (" + w.URL + ")"
		}
		add(w.RuleName, Warning, pbLine(w.Location.GetRanges()), w.Detail, fix)
	}
	if res.Error != nil {
		add(ruleDockerfileLoad, Error, pbLine(res.Error.Location.GetRanges()), res.Error.Message,
			"fix the Dockerfile so that 'docker build --check' accepts it")
		return out, nil
	}
	df, err := parseDockerfile(content)
	if err != nil {
		add(ruleDockerfileLoad, Error, 0, err.Error(), "fix the Dockerfile so that 'docker build --check' accepts it")
		return out, nil
	}
	info, ours := df.check(args, target)
	for _, f := range ours {
		f.File, f.Service = file, service
		out = append(out, f)
	}
	return out, info
}

// sourceMap names the Dockerfile in BuildKit's results; the linter needs a
// definition even when, as here, nothing is solved.
func sourceMap(file string, content []byte) *llb.SourceMap {
	sm := llb.NewSourceMap(nil, file, "Dockerfile", content)
	sm.Definition = &llb.Definition{}
	return sm
}

// pbLine is the first line of a location in BuildKit's results.
func pbLine(rs []*pb.Range) int {
	if len(rs) == 0 {
		return 0
	}
	return int(rs[0].GetStart().GetLine())
}

// firstLine is the first line of a location in the parsed Dockerfile.
func firstLine(rs []parser.Range) int {
	if len(rs) == 0 {
		return 0
	}
	return rs[0].Start.Line
}

// offlineResolver stands in for a registry: validation never pulls. Every base
// image resolves to an empty configuration on the platform asked for, so the
// rules that need a base image's own ENV cannot know it (see docs/validate.md).
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	p := ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		p = *opt.ImageOpt.Platform
	}
	img := ocispecs.Image{
		Platform: p,
		// a layer, so that BuildKit does not take the base for scratch
		RootFS: ocispecs.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromString(ref)}},
		Config: ocispecs.ImageConfig{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
	}
	dt, err := json.Marshal(img)
	return ref, "", dt, err
}

// dockerfile is a parsed Dockerfile with its check directive.
type dockerfile struct {
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand
	escape   rune
	skip     linter.Config
}

func parseDockerfile(content []byte) (*dockerfile, error) {
	ast, err := parser.Parse(bytes.NewReader(content))
	if err != nil {
		return nil, err
	}
	// A linter, even one that reports nowhere: buildkit reads '# check=' comments
	// through it and dereferences a nil one.
	stages, metaArgs, err := instructions.Parse(ast.AST, linter.New(&linter.Config{}))
	if err != nil {
		return nil, err
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("the Dockerfile has no FROM")
	}
	df := &dockerfile{stages: stages, metaArgs: metaArgs, escape: ast.EscapeToken}
	// '# check=skip=Rule,...' opts out of BuildKit's rules; stackctl's honour it too.
	directive, _, _, _ := parser.ParseDirective("check", content)
	if cfg, err := linter.ParseLintOptions(directive); err == nil {
		df.skip = *cfg
	}
	return df, nil
}

// check applies stackctl's Dockerfile rules and describes the final image.
func (df *dockerfile) check(buildArgs map[string]string, target string) (*imageInfo, []Finding) {
	var out []Finding
	add := func(rule string, line int, msg, fix string) {
		if df.skip.SkipAll || slices.Contains(df.skip.SkipRules, rule) {
			return
		}
		out = append(out, Finding{Rule: rule, Severity: severityOf(rule), Line: line, Message: msg, Fix: fix})
	}
	lex := shell.NewLex(df.escape)
	env := envMap{}
	for _, a := range df.metaArgs {
		for _, kv := range a.Args {
			v, given := buildArgs[kv.Key]
			if !given && kv.Value != nil {
				v, _, _ = lex.ProcessWord(*kv.Value, env)
			}
			env[kv.Key] = v
		}
	}
	type stageInfo struct {
		imageInfo
		name string
	}
	infos := make([]stageInfo, len(df.stages))
	final := len(df.stages) - 1
	for i, st := range df.stages {
		if target != "" && strings.EqualFold(st.Name, target) {
			final = i
		}
		base, _, err := lex.ProcessWord(st.BaseName, env)
		line := firstLine(st.Location)
		info := stageInfo{name: st.Name}
		parent := slices.IndexFunc(infos[:i], func(s stageInfo) bool { return s.name != "" && strings.EqualFold(s.name, base) })
		switch {
		case err != nil || base == "":
			// BuildKit's InvalidDefaultArgInFrom or UndefinedArgInFrom says why.
		case parent >= 0:
			info.imageInfo = infos[parent].imageInfo
		default:
			info.base = base
			if ok, why := pinned(base); !ok {
				add(ruleDockerfileBase, line, fmt.Sprintf("base image %q %s", base, why),
					"name a tag (e.g. alpine:3.22) or a digest, in the FROM line or the ARG default it uses")
			}
		}
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.UserCommand:
				u, _, _ := lex.ProcessWord(c.User, env)
				info.user, info.hasUser = u, true
			case *instructions.HealthCheckCommand:
				info.healthcheck = c.Health != nil && len(c.Health.Test) > 0 && c.Health.Test[0] != "NONE"
			}
		}
		infos[i] = info
	}
	fin := infos[final]
	fromLine := firstLine(df.stages[final].Location)
	switch {
	case !fin.hasUser:
		add(ruleDockerfileUser, fromLine, "the final stage sets no USER, so the image runs as its base image's user, root for most images",
			"add USER with a non-root user the image has (e.g. USER nginx); an entrypoint that must start as root to drop privileges needs an opt-out instead")
	case isRootUser(fin.user):
		add(ruleDockerfileUser, lastCommandLine(df.stages[final], "user"), fmt.Sprintf("the image runs as %q", fin.user),
			"end the final stage with USER and a non-root user")
	}
	if !fin.healthcheck {
		add(ruleDockerfileHealth, fromLine, "the final stage has no HEALTHCHECK, so a container of the image never reports whether it works",
			"add HEALTHCHECK CMD with a probe the image carries (e.g. wget -q --spider http://127.0.0.1:8080/)")
	}
	return &fin.imageInfo, out
}

func lastCommandLine(st instructions.Stage, name string) int {
	line := firstLine(st.Location)
	for _, c := range st.Commands {
		if strings.EqualFold(c.Name(), name) {
			line = firstLine(c.Location())
		}
	}
	return line
}

// isRootUser reports whether a USER or user: value is root.
func isRootUser(u string) bool {
	name, _, _ := strings.Cut(strings.TrimSpace(u), ":")
	return name == "root" || name == "0"
}

func severityOf(rule string) Severity {
	for _, r := range Rules {
		if r.ID == rule {
			return r.Severity
		}
	}
	return Warning
}

// envMap is the ARG scope shell.Lex expands FROM lines in.
type envMap map[string]string

func (e envMap) Get(k string) (string, bool) { v, ok := e[k]; return v, ok }
func (e envMap) Keys() []string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
