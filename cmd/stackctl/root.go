package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/stackctl/stackctl/internal/report"

	"github.com/docker/cli/cli/streams"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/basebuild"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/https"
	"github.com/stackctl/stackctl/internal/settings"
	"github.com/stackctl/stackctl/internal/site"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/state"
)

// errUsage marks a command-line usage mistake (bad flag, wrong argument count).
var errUsage = errors.New("usage")

// globalOptions are the flags every command shares.
type globalOptions struct {
	// dir is the site's directory or one below it, from --dir or its old
	// name --root; empty: the working directory.
	dir      string
	stateDir string
	// stateRoot is --state-dir as given: stateDir is an instance's below it.
	stateRoot string
	// instance tells apart copies of a stack on one engine (--instance).
	instance string
	debug    bool
	// noWaitLock fails at once when another command is changing the stack.
	noWaitLock bool
	// opened is the site once site found and opened it: one run opens it once.
	opened *site.Site
	// stackEnv is what stack verbs need, once built (see env).
	stackEnv *stack.Env
	// rep is how the command speaks on stderr: text, or JSON lines with
	// --json (see reporter).
	rep    *report.Reporter
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func (g *globalOptions) AddFlags(fs *pflag.FlagSet) {
	// --root was --dir's first name: it stays, hidden, so that scripts keep
	// working, and using it is noted on stderr (see newRootCommand).
	def := cmp.Or(os.Getenv("STACKCTL_DIR"), os.Getenv("STACKCTL_ROOT"))
	fs.StringVar(&g.dir, "root", def, "old name of --dir")
	_ = fs.MarkHidden("root")
	fs.StringVar(&g.dir, "dir", def, "the site: its directory, or one below it (default: found from the working directory upwards; env STACKCTL_DIR)")
	fs.StringVar(&g.stateDir, "state-dir", string(state.Default()), "where stackctl keeps each stack's recorded profile and generated secrets (env STACKCTL_STATE_DIR)")
	fs.StringVar(&g.instance, "instance", os.Getenv("STACKCTL_INSTANCE"), "run the stack as an instance of its own beside others on the engine: its containers, volumes and images named apart, its state under the state directory's instances/NAME (env STACKCTL_INSTANCE; given empty: none; default: the site's 'instance' setting, else none)")
	fs.BoolVar(&g.debug, "debug", false, "show the Docker and Compose libraries' own debug messages")
	fs.BoolVar(&g.noWaitLock, "no-wait-lock", false, "when another stackctl command is changing the stack, fail at once (exit 5) instead of waiting for it")
}

func newRootCommand() *cobra.Command {
	cmd, _ := newRoot()
	return cmd
}

// newRoot is the root command and the options its commands share, which
// main reports a failure through.
func newRoot() (*cobra.Command, *globalOptions) {
	g := &globalOptions{stdin: os.Stdin, stdout: os.Stdout, stderr: withKillAt(os.Stderr)}
	cmd := &cobra.Command{
		Use:   "stackctl",
		Short: "Build, run and check Redmine and nginx Docker Compose stacks",
		Long: `stackctl builds and runs stackctl's Docker Compose stacks through the Compose SDK:
nginx (our Alpine image serving our own page) and Redmine behind it.

Every stack runs on one of two kinds of base image, its profile, chosen with --profile:
  upstream  the official images (alpine, redmine, postgres), pulled from a registry
  debian    twins that stackctl builds from a Debian mirror with mmdebstrap, for hosts
            that cannot reach Docker Hub
  auto      upstream when its images are present or pullable, debian otherwise (default)
The profile a stack first starts with is recorded and used again.

stackctl runs from a site, a directory of the operator's made by 'stackctl init'
(stackctl.yaml, themes/, plugins/): found from the working directory upwards, as
git finds a repository, or given with --dir. A checkout of stackctl's repository
is a site too, built from its own stacks/.

Commands that change a stack (up, down, restore-volumes, rollback, upgrade,
renew, backup-volumes, prune, check-theme) hold its lock in the state directory
for their whole run: a second one waits, saying for what, or with
--no-wait-lock fails at once (exit 5). Commands that only look (ps, logs,
config, status, generations, up --dry-run, verify-backup, backups) take none.

` + exitCodeHelp,
		Example: `  stackctl up nginx --profile debian
  stackctl ps nginx
  stackctl down nginx`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.stdout, g.stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			// A command's --json asks for its result, and its progress, as JSON.
			format := report.Text
			if f := cmd.Flags().Lookup("json"); f != nil && f.Value.String() == "true" {
				format = report.JSON
			}
			g.rep = report.New(g.stderr, report.Options{Format: format, Terminal: g.stderrIsTerminal(), Command: cmd.Name()})
			// Not cobra's deprecation notice: it goes to stdout, which carries only results.
			if f := cmd.Flags().Lookup("base"); f != nil && f.Changed {
				g.rep.Warnf("--base is now called --profile; --base will be removed")
			}
			if cmd.Flags().Changed("root") {
				g.rep.Warnf("--root is now called --dir; --root will be removed")
			} else if !cmd.Flags().Changed("dir") && os.Getenv("STACKCTL_DIR") == "" && os.Getenv("STACKCTL_ROOT") != "" {
				g.rep.Warnf("STACKCTL_ROOT is now called STACKCTL_DIR; STACKCTL_ROOT will be removed")
			}
			// --instance or STACKCTL_INSTANCE, given even empty (the stack of no
			// instance), wins over the site's setting.
			_, fromEnv := os.LookupEnv("STACKCTL_INSTANCE")
			if !cmd.Flags().Changed("instance") && !fromEnv && !siteFree(cmd) {
				name, err := g.siteInstance()
				if err != nil {
					return err
				}
				g.instance = name
			}
			if err := catalog.CheckInstance(g.instance); err != nil {
				return err
			}
			g.stateRoot = g.stateDir
			if g.instance != "" && g.stateDir != "" {
				// An instance's state, secrets and backups are its own.
				g.stateDir = filepath.Join(g.stateDir, "instances", g.instance)
			}
			return nil
		},
	}
	cmd.SetOut(g.stdout)
	cmd.SetErr(g.stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %v", errUsage, err) })
	g.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(
		newInitCommand(g),
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
		newSigningKeyCommand(g),
		newRestoreVolumesCommand(g),
		newBackupsCommand(g),
		newGenerationsCommand(g),
		newRollbackCommand(g),
		newPruneCommand(g),
		newUpgradeCommand(g),
		newUpdateCommand(g),
		newRenewCommand(g),
		newMailCommand(g),
		newStatusCommand(g),
		newPushCommand(g),
		newKernelCommand(g),
		newValidateCommand(g),
		newScheduleCommand(g),
		newReferenceCommand(g),
	)
	usageArgs(cmd)
	return cmd, g
}

// reporter is the command's reporter; before a command runs (a bad flag,
// say), plain text on stderr.
func (g *globalOptions) reporter() *report.Reporter {
	if g.rep == nil {
		return report.New(g.stderr, report.Options{})
	}
	return g.rep
}

// usageArgs makes a wrong argument count a usage mistake (exit 2), as a bad
// flag is, in c and every command below it.
func usageArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return fmt.Errorf("%w: %v: see '%s --help'", errUsage, err, cmd.CommandPath())
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// site opens the site: found from --dir, or from the working directory, upwards.
func (g *globalOptions) site() (site.Site, error) {
	if g.opened != nil {
		return *g.opened, nil
	}
	start, err := g.start()
	if err != nil {
		return site.Site{}, err
	}
	s, err := site.Open(start, g.reporter().Writer())
	if err != nil {
		return site.Site{}, err
	}
	g.opened = &s
	return s, nil
}

// annotSiteFree marks a command that acts on no stack of the site (init,
// validate, reference, ...): it runs whatever the site's settings file holds,
// which validate is there to report on.
const annotSiteFree = "stackctl/site-free"

func siteFree(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		if _, ok := c.Annotations[annotSiteFree]; ok {
			return true
		}
		// cobra's own: help, completion and the shell's completion requests.
		switch c.Name() {
		case "help", "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
			return true
		}
	}
	return false
}

// siteInstance is the instance the site's settings file names: "" without
// a site or without the setting. A settings file whose instance cannot be
// read fails the command, rather than let it act on the stacks of no
// instance, which may be another site's; its other problems are the
// command's to judge (down goes on without the file, up refuses it).
func (g *globalOptions) siteInstance() (string, error) {
	start, err := g.start()
	if err != nil {
		return "", err
	}
	s, err := site.Find(start)
	if err != nil {
		return "", nil // no site: the command says so when it needs one
	}
	return settings.InstanceOf(filepath.Join(s.Dir, site.SettingsFile))
}

// settings reads the site's settings file, refusing one with any problem.
func (g *globalOptions) settings() (settings.Loaded, error) {
	s, err := g.site()
	if err != nil {
		return settings.Loaded{}, err
	}
	return s.Settings()
}

// start is where the search for the site starts.
func (g *globalOptions) start() (string, error) {
	if g.dir != "" {
		return g.dir, nil
	}
	return os.Getwd()
}

// buildDir is what the site's stacks are built from.
func (g *globalOptions) buildDir() (stack.BuildDir, error) {
	s, err := g.site()
	if err != nil {
		return "", err
	}
	return stack.BuildDir(s.Root()), nil
}

// repository is the checkout of stackctl's repository that generate and
// reference write into: any other site has no compose files or docs of its own.
func (g *globalOptions) repository(command string) (string, error) {
	start, err := g.start()
	if err != nil {
		return "", err
	}
	s, err := site.Find(start)
	if err != nil {
		return "", err
	}
	if !s.Checkout {
		return "", fmt.Errorf("%w: %s writes into a checkout of stackctl's repository, and the site %s is not one: "+
			"run it in a checkout, or pass --dir", errs.ErrInvalidInput, command, s.Dir)
	}
	return s.Dir, nil
}

// connect opens the engine connection; the SDK speaks through the reporter.
func (g *globalOptions) connect(ctx context.Context) (*engine.Docker, error) {
	return engine.Connect(ctx, g.reporter(), g.debug)
}

// toolOutput is where a tool's own progress display goes (a push, a build):
// drawn in place on a terminal, lines otherwise, events with --json.
func (g *globalOptions) toolOutput() (w io.Writer, tty bool, fd uintptr) {
	rep := g.reporter()
	if f, ok := g.stderr.(*os.File); ok && rep.Terminal() {
		return rep.Writer(), true, streams.NewOut(f).FD()
	}
	return rep.Writer(), false, 0
}

func (g *globalOptions) stderrIsTerminal() bool {
	f, ok := g.stderr.(*os.File)
	return ok && streams.NewOut(f).IsTerminal()
}

// backupDir is the backup directory: flag's value (--out, --backup-dir, or
// STACKCTL_BACKUP_DIR through their defaults), else backups/ under --state-dir.
func (g *globalOptions) backupDir(flag string) string {
	if flag != "" {
		return flag
	}
	return filepath.Join(g.stateDir, "backups")
}

// env is what every stack verb needs, built once for the run: the clients
// are reached only when a verb first needs them.
func (g *globalOptions) env() (stack.Env, error) {
	if g.stackEnv != nil {
		return *g.stackEnv, nil
	}
	build, err := g.buildDir()
	if err != nil {
		return stack.Env{}, err
	}
	sd, err := g.state()
	if err != nil {
		return stack.Env{}, err
	}
	var d *engine.Docker
	connect := func(ctx context.Context) (*engine.Docker, error) {
		if d != nil {
			return d, nil
		}
		var err error
		d, err = g.connect(ctx)
		return d, err
	}
	env := stack.Env{
		Connect: func(ctx context.Context) (api.Compose, *engine.Engine, error) {
			d, err := connect(ctx)
			if err != nil {
				return nil, nil, err
			}
			return d.Compose, d.Engine, nil
		},
		Push: func(ctx context.Context, image, target string) (string, error) {
			d, err := connect(ctx)
			if err != nil {
				return "", err
			}
			return g.push(ctx, d, image, target)
		},
		Build: build, State: sd, Instance: g.instance, Settings: g.siteSettings, NoWaitLock: g.noWaitLock, Report: g.reporter(),
	}
	g.stackEnv = &env
	return env, nil
}

// siteSettings reads the settings file as the stacks use it: what it changes
// in them, with the mail passwords it names, and its tls settings.
func (g *globalOptions) siteSettings() (catalog.Overrides, https.Config, error) {
	set, err := g.settings()
	if err != nil {
		return catalog.Overrides{}, https.Config{}, err
	}
	site := set.Overrides()
	if site.Secrets, err = set.Secrets(); err != nil {
		return catalog.Overrides{}, https.Config{}, err
	}
	return site, set.HTTPS(), nil
}

// open opens the stack named by args for a command that does mode to it.
func (g *globalOptions) open(ctx context.Context, args []string, mode stack.Mode, purpose string) (*stack.Stack, error) {
	return g.openOn(ctx, args, mode, stack.OpenOptions{Purpose: purpose})
}

// openOn is open with the options up --on needs.
func (g *globalOptions) openOn(ctx context.Context, args []string, mode stack.Mode, o stack.OpenOptions) (*stack.Stack, error) {
	st, err := g.stackArg(args)
	if err != nil {
		return nil, err
	}
	env, err := g.env()
	if err != nil {
		return nil, err
	}
	return stack.Open(ctx, env, st.Name, mode, o)
}

// confirm asks question on the terminal and says whether the answer was yes;
// without a terminal to ask on it fails with refused, naming the flag that
// answers yes in advance.
func (g *globalOptions) confirm(question, flag string, refused error) error {
	in, ok := g.stdin.(*os.File)
	if !ok || !streams.NewIn(in).IsTerminal() || !g.stderrIsTerminal() {
		return fmt.Errorf("%w: %s: no terminal to ask on: pass %s to go ahead", refused, question, flag)
	}
	g.rep.Printf("%s [y/N] ", question)
	answer, _ := bufio.NewReader(in).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return fmt.Errorf("%w: not confirmed", refused)
	}
	return nil
}

// state is --state-dir, once checked to name a directory.
func (g *globalOptions) state() (state.Dir, error) {
	d := state.Dir(g.stateDir)
	return d, d.Check()
}

// stackArg is the single STACK argument of a command; nginx when omitted only
// where the command says so.
func (g *globalOptions) stackArg(args []string) (catalog.Stack, error) {
	if len(args) != 1 {
		return catalog.Stack{}, fmt.Errorf("%w: name one stack: one of %v", errUsage, catalog.StackNames())
	}
	st, err := catalog.LookupStack(args[0])
	st.Instance = g.instance
	return st, err
}

// profileAndListen parses --profile, and checks --listen (when given) before
// anything starts.
func profileAndListen(profile, listen string) (catalog.Profile, error) {
	p, err := catalog.ParseProfile(profile)
	if err != nil {
		return "", err
	}
	if listen != "" {
		if _, _, err := catalog.SplitListen(listen); err != nil {
			return "", err
		}
	}
	return p, nil
}

// profileFlag registers --profile with default def and usage saying what it
// picks among. --base was its first name: it stays, hidden, so that scripts
// keep working, and using it is noted on stderr (see newRootCommand).
func profileFlag(fs *pflag.FlagSet, p *string, def, usage string) {
	fs.StringVar(p, "base", def, usage)
	_ = fs.MarkHidden("base")
	fs.StringVar(p, "profile", def, usage)
}

// envProfile is $STACKCTL_PROFILE, else the older $STACKCTL_BASE.
func envProfile() string { return cmp.Or(os.Getenv("STACKCTL_PROFILE"), os.Getenv("STACKCTL_BASE")) }

// profileUsage is --profile's usage where it picks upstream, debian or auto.
const profileUsage = "base profile: upstream, debian or auto (env STACKCTL_PROFILE; default auto)"

// mirrorFlag registers --mirror, defaulting to $STACKCTL_DEBIAN_MIRROR.
func mirrorFlag(fs *pflag.FlagSet, m *string) {
	def := os.Getenv("STACKCTL_DEBIAN_MIRROR")
	if def == "" {
		def = basebuild.DefaultMirror
	}
	fs.StringVar(m, "mirror", def, "Debian mirror the debian bases are built from (env STACKCTL_DEBIAN_MIRROR)")
}
