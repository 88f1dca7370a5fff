package stack

import (
	"context"
	"io"

	"github.com/stackctl/stackctl/internal/engine"
)

// backend is where a stack runs: this engine through Compose, or a swarm.
// Each verb of Stack is one method here; a backend without it answers
// unsupported.
type backend interface {
	where() string
	place() string
	// supports answers ErrUnsupported for a verb the backend lacks.
	supports(v Verb) error
	// recover finishes or undoes what a stopped stackctl left.
	recover(ctx context.Context) error
	plan(ctx context.Context, o UpOptions) (Plan, error)
	up(ctx context.Context, o UpOptions) (UpResult, error)
	down(ctx context.Context, volumes bool) (string, error)
	ps(ctx context.Context) (Listing, error)
	logs(ctx context.Context, o LogsOptions) error
	newGeneration(ctx context.Context, seed Seed, made, source string, o GenOptions) (NewResult, error)
	trial(ctx context.Context, seed Seed, source string, o UpOptions) (TrialResult, error)
	rollback(ctx context.Context, to int, o UpOptions) (RollbackResult, error)
	// planGeneration and planRollback compute what newGeneration and
	// rollback would do, changing nothing.
	planGeneration(ctx context.Context, seed Seed, made, source string, o GenOptions) (Plan, error)
	planRollback(ctx context.Context, to int, o UpOptions) (Plan, error)
	generations(ctx context.Context) ([]GenerationInfo, error)
	prune(ctx context.Context, keep int, dryRun bool) (PruneResult, error)
	applyHTTPS(ctx context.Context, force bool) (HTTPSResult, error)
	access(ctx context.Context, service string) (Access, error)
	// data is the runner whose engine holds the stack's data, and that engine.
	data(ctx context.Context) (Runner, *engine.Engine, error)
	// onEngine is the runner for a verb that works on this engine alone.
	onEngine(ctx context.Context, v Verb) (Runner, error)
}

// Verb names a verb, for a backend to say it lacks it.
type Verb string

// The verbs a backend may lack.
const (
	VerbTrial       Verb = "a restore test (--test-restore)"
	VerbGenerations Verb = "generations"
	VerbPrune       Verb = "prune"
	VerbRenew       Verb = "renew"
	VerbUpgrade     Verb = "upgrade"
	VerbUpdate      Verb = "update"
	VerbStatus      Verb = "status"
	VerbMailTest    Verb = "mail test"
)

// Supports answers ErrUnsupported, saying what to do instead, when the
// backend the stack runs on lacks v: before anything is done.
func (s *Stack) Supports(v Verb) error { return s.b.supports(v) }

// Listing is what ps shows: a header and rows, the same shape on both backends.
type Listing struct {
	Header []string   `json:"header"`
	Rows   [][]string `json:"rows"`
}

// LogsOptions are the operator's choices for Logs.
type LogsOptions struct {
	Services   []string
	Follow     bool
	Tail       string
	Timestamps bool
	// Out and Err receive the logs; Color prefixes them in colour (a terminal).
	Out, Err io.Writer
	Color    bool
}

// GenOptions are the operator's choices for a new generation.
type GenOptions struct {
	Up UpOptions
	// FilesVolume is the shared storage a restore on a swarm writes the
	// files into, for a stack whose files are shared.
	FilesVolume map[string]string
}

// Plan computes what Up would do, changing nothing.
func (s *Stack) Plan(ctx context.Context, o UpOptions) (Plan, error) { return s.b.plan(ctx, o) }

// Up starts the stack, or brings it to what the site says now; see Runner.Up
// and Runner.UpSwarm.
func (s *Stack) Up(ctx context.Context, o UpOptions) (UpResult, error) { return s.b.up(ctx, o) }

// Down stops and removes the stack's containers (on a swarm: its services);
// with volumes, its data too. It returns what to tell the operator.
func (s *Stack) Down(ctx context.Context, volumes bool) (string, error) {
	return s.b.down(ctx, volumes)
}

// Ps lists the stack's containers (on a swarm: its tasks).
func (s *Stack) Ps(ctx context.Context) (Listing, error) { return s.b.ps(ctx) }

// Logs writes the stack's logs.
func (s *Stack) Logs(ctx context.Context, o LogsOptions) error { return s.b.logs(ctx, o) }

// NewGeneration makes a new generation of the stack's data beside the one
// that serves, filled by seed, checks it and switches to it.
func (s *Stack) NewGeneration(ctx context.Context, seed Seed, made, source string, o GenOptions) (NewResult, error) {
	return s.b.newGeneration(ctx, seed, made, source, o)
}

// Trial fills a throwaway generation with seed, checks it, and removes it.
func (s *Stack) Trial(ctx context.Context, seed Seed, source string, o UpOptions) (TrialResult, error) {
	return s.b.trial(ctx, seed, source, o)
}

// Rollback serves an earlier generation again (to; 0: the one before).
func (s *Stack) Rollback(ctx context.Context, to int, o UpOptions) (RollbackResult, error) {
	return s.b.rollback(ctx, to, o)
}

// Generations lists the stack's generations.
func (s *Stack) Generations(ctx context.Context) ([]GenerationInfo, error) {
	return s.b.generations(ctx)
}

// Prune removes all but the keep newest generations (and never the active
// one); with dryRun it only says which.
func (s *Stack) Prune(ctx context.Context, keep int, dryRun bool) (PruneResult, error) {
	return s.b.prune(ctx, keep, dryRun)
}

// ApplyHTTPS brings nginx's certificate to what the settings say (renew).
func (s *Stack) ApplyHTTPS(ctx context.Context, force bool) (HTTPSResult, error) {
	return s.b.applyHTTPS(ctx, force)
}

// Access is how to reach service of the stack as an administrator.
func (s *Stack) Access(ctx context.Context, service string) (Access, error) {
	return s.b.access(ctx, service)
}

// OnEngine is the runner of a verb that works on this engine only (an
// upgrade, status, a mail test); on a swarm it answers ErrUnsupported.
func (s *Stack) OnEngine(ctx context.Context, v Verb) (Runner, error) {
	return s.b.onEngine(ctx, v)
}
