package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/schedule"
	"github.com/stackctl/stackctl/internal/site"
)

type scheduleRunOptions struct {
	envFiles []string
}

func (o *scheduleRunOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.envFiles, "env-file", nil, "a file of KEY=VALUE lines, mode 0600, added to the run's environment (cron has no EnvironmentFile=); repeatable")
}

func newScheduleRunCommand(g *globalOptions) *cobra.Command {
	o := &scheduleRunOptions{}
	cmd := &cobra.Command{
		Use:   "run STACK -- backup-volumes|update STACK [FLAGS]",
		Short: "Run a scheduled backup or update and report its failure: what the timer or cron runs",
		Long: `Run one scheduled backup or update as the timer (or cron) does: run this
stackctl's backup-volumes or update (no other command) with the arguments after
--, pass its output through, and exit with its exit code, so that the service
fails when the backup or the update does. A failed run is first reported, with
its last ` + fmt.Sprint(schedule.TailLines) + ` lines of output, to the webhook in ` + schedule.EnvWebhook + ` (a JSON
POST: stack, job (backup or update), host, time, exit_code, command, output) and
by mail to ` + schedule.EnvMail + ` through the site's mail.smtp server. 'schedule backup'
and 'schedule update' write those variables into the schedule's environment
file; a report that cannot be sent is said on stderr and changes nothing else.

A wrapper rather than an OnFailure= unit: it works the same under cron, which has
no such thing, and it has the exit code and the output at hand, with no journal to read.`,
		Example: `  stackctl --dir /srv/tracker schedule run redmine -- backup-volumes redmine --keep=14
  stackctl --dir /srv/tracker schedule run redmine -- update redmine --security-only=true`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScheduleRun(cmd.Context(), g, o, args, cmd.ArgsLenAtDash())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// exitStatus is an exit code to exit with as it is: a scheduled run's.
type exitStatus struct {
	code int
	msg  string
}

func (e *exitStatus) Error() string { return e.msg }

func runScheduleRun(ctx context.Context, g *globalOptions, o *scheduleRunOptions, args []string, dash int) error {
	var job schedule.Kind
	if dash == 1 && len(args) >= 3 {
		job, _ = schedule.KindOf(args[1])
	}
	if job == "" {
		return fmt.Errorf("%w: want 'schedule run STACK -- backup-volumes STACK [FLAGS]' or 'schedule run STACK -- update STACK [FLAGS]'", errUsage)
	}
	st, err := g.stackArg(args[:1])
	if err != nil {
		return err
	}
	env := os.Environ()
	for _, f := range o.envFiles {
		vars, err := schedule.ReadEnvFile(f)
		if err != nil {
			return err
		}
		env = append(env, vars...)
	}
	bin, err := executable()
	if err != nil {
		return err
	}
	argv := []string{bin}
	if g.dir != "" {
		argv = append(argv, "--dir", g.dir)
	}
	if g.stateRoot != "" {
		argv = append(argv, "--state-dir", g.stateRoot)
	}
	if g.instance != "" {
		argv = append(argv, "--instance", g.instance)
	}
	argv = append(argv, args[1:]...)
	code, err := schedule.Run{
		Job: job, Stack: st.Name, Argv: argv, Env: env, Output: g.rep.Writer(), Report: g.rep,
		Notify: g.notifiers(schedule.NotifyFromEnv(env)),
	}.Do(ctx)
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitStatus{code: code, msg: fmt.Sprintf("the scheduled %s of stack %s failed (exit %d)", job, st.Name, code)}
	}
	return nil
}

// notifiers are where n says a failed run goes. The mail goes through the
// site's SMTP server: without one, or without the site, it is said on stderr
// and the other reports go on.
func (g *globalOptions) notifiers(n schedule.Notify) []schedule.Notifier {
	var out []schedule.Notifier
	if n.Webhook != "" {
		out = append(out, schedule.Webhook{URL: n.Webhook})
	}
	if n.Mail == "" {
		return out
	}
	server, err := g.smtpServer()
	if err != nil {
		g.rep.Warnf("a failed run cannot be mailed to %s: %v", n.Mail, err)
		return out
	}
	return append(out, schedule.Mail{Server: server, To: n.Mail})
}

// smtpServer is the SMTP server of the site the run is for.
func (g *globalOptions) smtpServer() (schedule.SMTP, error) {
	start, err := g.start()
	if err != nil {
		return schedule.SMTP{}, err
	}
	s, err := site.Find(start)
	if err != nil {
		return schedule.SMTP{}, err
	}
	return siteSMTP(s)
}
