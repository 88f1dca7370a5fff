package stack

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Base is an image a stack builds FROM, with its two interchangeable sources: a
// pinned official image, and a Debian-built twin that honours the same contract
// (see shared/design/image-contracts.md).
type Base struct {
	// Name identifies the base in commands and image names: "nginx".
	Name string
	// Var is the compose interpolation variable that carries the chosen reference
	// into the stack's build args, so one compose file serves both profiles.
	Var string
	// Upstream is the official image, pinned to a tag.
	Upstream string
	// Recipe builds the debian twin.
	Recipe Recipe
}

// DebianRef is the tag stackctl gives the debian twin it builds.
func (b Base) DebianRef() string { return "stackctl/base-" + b.Name + ":" + b.Recipe.Suite }

// Ref is the reference a stack builds FROM under profile p (upstream or debian).
func (b Base) Ref(p Profile) string {
	if p == ProfileDebian {
		return b.DebianRef()
	}
	return b.Upstream
}

// Stack is one stack stackctl can run: a typed compose model and the bases it needs.
type Stack struct {
	Name string
	// Entry is the service that publishes the stack's URL, and EntryPort its container port.
	Entry     string
	EntryPort uint32
	bases     []string
	model     func() *types.Project
	// secrets are generated on first start and handed over as files.
	secrets []Secret
	// configure runs once, after the stack's first successful start.
	configure func(context.Context, Runner, Stack) error
}

// Project is the compose project name, which prefixes the stack's containers and volumes.
func (s Stack) Project() string { return "stackctl-" + s.Name }

// Bases returns the bases the stack is built on, in a stable order.
func (s Stack) Bases() []Base {
	out := make([]Base, 0, len(s.bases))
	for _, n := range s.bases {
		out = append(out, bases[n])
	}
	return out
}

var bases = map[string]Base{
	"nginx":    nginxBase,
	"redmine":  redmineBase,
	"postgres": postgresBase,
}

var stacks = map[string]Stack{
	"nginx": {Name: "nginx", Entry: "nginx", EntryPort: nginxPort, bases: []string{"nginx"}, model: nginxModel},
	"redmine": {
		Name: "redmine", Entry: "nginx", EntryPort: nginxPort,
		bases:     []string{"nginx", "redmine", "postgres"},
		model:     redmineModel,
		secrets:   []Secret{secretDBPassword, secretKeyBase, secretAdminPassword},
		configure: configureRedmine,
	},
}

// StackNames lists the stacks stackctl knows, sorted.
func StackNames() []string { return sortedKeys(stacks) }

// BaseNames lists the bases stackctl can build, sorted.
func BaseNames() []string { return sortedKeys(bases) }

// LookupStack returns the stack called name.
func LookupStack(name string) (Stack, error) {
	s, ok := stacks[name]
	if !ok {
		return Stack{}, fmt.Errorf("%w: unknown stack %q: known stacks are %s", ErrInvalidInput, name, strings.Join(StackNames(), ", "))
	}
	return s, nil
}

// LookupBase returns the base called name.
func LookupBase(name string) (Base, error) {
	b, ok := bases[name]
	if !ok {
		return Base{}, fmt.Errorf("%w: unknown base %q: known bases are %s", ErrInvalidInput, name, strings.Join(BaseNames(), ", "))
	}
	return b, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
