package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/docker/cli/cli/streams"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/stack"
)

// errUsage marks a command-line usage mistake (bad flag, wrong argument count).
var errUsage = errors.New("usage")

// globalOptions are the flags every command shares.
type globalOptions struct {
	root     string
	stateDir string
	debug    bool
	stdout   io.Writer
	stderr   io.Writer
}

func (g *globalOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&g.root, "root", os.Getenv("STACKCTL_ROOT"), "stackctl project directory, the one with stacks/ (default: found from the working directory; env STACKCTL_ROOT)")
	fs.StringVar(&g.stateDir, "state-dir", string(stack.DefaultStateDir()), "where stackctl keeps each stack's recorded profile and generated secrets (env STACKCTL_STATE_DIR)")
	fs.BoolVar(&g.debug, "debug", false, "show the Docker and Compose libraries' own debug messages")
}

func newRootCommand() *cobra.Command {
	g := &globalOptions{stdout: os.Stdout, stderr: os.Stderr}
	cmd := &cobra.Command{
		Use:   "stackctl",
		Short: "Build, run and check Redmine and nginx Docker Compose stacks",
		Long: `stackctl builds and runs stackctl's Docker Compose stacks through the Compose SDK:
nginx (our Alpine image serving our own page) and Redmine behind it.

Every stack runs on one of two kinds of base image, chosen with --base:
  upstream  the official images (alpine, redmine, postgres), pulled from a registry
  debian    twins that stackctl builds from a Debian mirror with mmdebstrap, for hosts
            that cannot reach Docker Hub
  auto      upstream when its images are present or pullable, debian otherwise (default)
The profile a stack first starts with is recorded and used again.

` + exitCodeHelp,
		Example: `  stackctl up nginx --base debian
  stackctl ps nginx
  stackctl down nginx`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			g.stdout, g.stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
		},
	}
	cmd.SetOut(g.stdout)
	cmd.SetErr(g.stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %v", errUsage, err) })
	g.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(
		newUpCommand(g),
		newDownCommand(g),
		newPsCommand(g),
		newLogsCommand(g),
		newConfigCommand(g),
		newBaseCommand(g),
		newGenerateCommand(g),
		newCheckThemeCommand(g),
		newBackupVolumesCommand(g),
		newVerifyBackupCommand(g),
		newRestoreVolumesCommand(g),
		newPushCommand(g),
		newKernelCommand(g),
		newValidateCommand(g),
		newReferenceCommand(g),
	)
	return cmd
}

// projectRoot is --root, or the stackctl project found from the working directory.
func (g *globalOptions) projectRoot() (stack.Root, error) {
	if g.root != "" {
		return stack.FindRoot(g.root)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return stack.FindRoot(wd)
}

// connect opens the engine connection, with the SDK's live display when stderr is a terminal.
func (g *globalOptions) connect(ctx context.Context) (*stack.Docker, error) {
	return stack.Connect(ctx, g.stderr, g.stderrIsTerminal(), g.debug)
}

func (g *globalOptions) stderrIsTerminal() bool {
	f, ok := g.stderr.(*os.File)
	return ok && streams.NewOut(f).IsTerminal()
}

// runner connects to the engine and returns the domain's stack runner.
func (g *globalOptions) runner(ctx context.Context) (stack.Runner, error) {
	r, _, err := g.runnerEngine(ctx)
	return r, err
}

// runnerEngine is runner, with the engine's calls beyond the runner's own
// (streams in and out of containers) for backups and restores.
func (g *globalOptions) runnerEngine(ctx context.Context) (stack.Runner, stack.DockerEngine, error) {
	root, err := g.projectRoot()
	if err != nil {
		return stack.Runner{}, stack.DockerEngine{}, err
	}
	d, err := g.connect(ctx)
	if err != nil {
		return stack.Runner{}, stack.DockerEngine{}, err
	}
	return stack.Runner{Compose: d.Compose, Engine: d.Engine, Root: root, State: stack.StateDir(g.stateDir), Log: g.stderr}, d.Engine, nil
}

// stackArg is the single STACK argument of a command; nginx when omitted only
// where the command says so.
func stackArg(args []string) (stack.Stack, error) {
	if len(args) != 1 {
		return stack.Stack{}, fmt.Errorf("%w: name one stack: one of %v", errUsage, stack.StackNames())
	}
	return stack.LookupStack(args[0])
}

// profileAndListen parses --base, and checks --listen (when given) for st
// before anything starts.
func profileAndListen(st stack.Stack, base, listen string) (stack.Profile, error) {
	profile, err := stack.ParseProfile(base)
	if err != nil {
		return "", err
	}
	if listen != "" {
		if _, err := st.Env(stack.Settings{Profile: profile, Listen: listen}); err != nil {
			return "", err
		}
	}
	return profile, nil
}

// profileFlag registers --base, defaulting to $STACKCTL_BASE.
func profileFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "base", os.Getenv("STACKCTL_BASE"), "base profile: upstream, debian or auto (env STACKCTL_BASE; default auto)")
}

// mirrorFlag registers --mirror, defaulting to $STACKCTL_DEBIAN_MIRROR.
func mirrorFlag(fs *pflag.FlagSet, m *string) {
	def := os.Getenv("STACKCTL_DEBIAN_MIRROR")
	if def == "" {
		def = stack.DefaultMirror
	}
	fs.StringVar(m, "mirror", def, "Debian mirror the debian bases are built from (env STACKCTL_DEBIAN_MIRROR)")
}
