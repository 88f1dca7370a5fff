package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// exampleArgs is the stackctl command line of one Example line, as a shell
// would split it, or nil when the line runs no stackctl: sudo and the
// environment assignments before it, what runs before '&&', a pipe, a redirection and a
// comment after it left out.
func exampleArgs(line string) []string {
	for _, cut := range []string{" #", " | ", " > "} {
		line, _, _ = strings.Cut(line, cut)
	}
	if i := strings.LastIndex(line, "&&"); i >= 0 {
		line = line[i+2:]
	}
	fields := strings.Fields(line)
	for len(fields) > 0 && (fields[0] == "sudo" || strings.Contains(fields[0], "=") && !strings.HasPrefix(fields[0], "-")) {
		fields = fields[1:]
	}
	if len(fields) == 0 || fields[0] != "stackctl" {
		return nil
	}
	args := fields[1:]
	for i, a := range args {
		args[i] = strings.Trim(a, `'"`)
	}
	return args
}

func walkCommands(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walkCommands(sub, fn)
	}
}

// exampleProblems checks c's examples: each line that runs stackctl must name
// a command, flags it has and arguments it accepts, and a command that runs
// must have a line that runs it.
func exampleProblems(c *cobra.Command) []string {
	var problems []string
	ran := false
	for line := range strings.Lines(c.Example) {
		line = strings.TrimSpace(line)
		args := exampleArgs(line)
		if args == nil {
			continue
		}
		found, rest, err := newRootCommand().Find(args)
		if err == nil && found.CommandPath() == c.CommandPath() {
			ran = true
		}
		if err == nil {
			err = found.ParseFlags(rest)
		}
		if err == nil {
			err = found.ValidateArgs(found.Flags().Args())
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("example %q: %v", line, err))
		}
	}
	if c.Runnable() && !ran {
		problems = append(problems, "no example runs "+c.CommandPath())
	}
	return problems
}

// TestHelpAndExamples: every command says what it does, and every command
// that runs has an example; every example line is a command line stackctl
// takes as it stands. A renamed flag breaks its examples here, not in a
// user's shell.
func TestHelpAndExamples(t *testing.T) {
	walkCommands(newRootCommand(), func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" || c.HasParent() && c.Parent().Name() == "completion" {
			return
		}
		t.Run(c.CommandPath(), func(t *testing.T) {
			if c.Short == "" {
				t.Error("no Short: 'stackctl --help' lists it with nothing to say")
			}
			if c.Runnable() && c.Example == "" {
				t.Error("no Example: every command has lines a user can paste")
			}
			for _, p := range exampleProblems(c) {
				t.Error(p)
			}
		})
	})
}

// TestExampleProblems: the example check catches what would break in a
// user's shell.
func TestExampleProblems(t *testing.T) {
	for _, tc := range []struct {
		name, example, want string
	}{
		{"good", "  stackctl ps nginx\n  STACKCTL_DIR=/srv/t stackctl ps redmine | less", ""},
		{"unknown flag", "  stackctl ps nginx --colour", "unknown flag: --colour"},
		{"too many arguments", "  stackctl ps nginx\n  stackctl backup-volumes nginx redmine", "accepts at most 1 arg(s), received 2"},
		{"another command only", "  stackctl down nginx", "no example runs stackctl ps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ps *cobra.Command
			walkCommands(newRootCommand(), func(c *cobra.Command) {
				if c.Name() == "ps" {
					ps = c
				}
			})
			ps.Example = tc.example
			got := strings.Join(exampleProblems(ps), "; ")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("problems %q, want %q", got, tc.want)
			}
		})
	}
}

// TestHelpShowsExamples: --help of a command shows its examples and its
// flags, and the root's the exit codes.
func TestHelpShowsExamples(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Exit codes:", "stackctl up nginx --profile debian", "--no-wait-lock"}},
		{[]string{"check-theme", "--help"}, []string{"stackctl check-theme --theme harbor --apply --screenshot harbor.png", "--admin-password-file", "exit code (10 to 16"}},
		{[]string{"up", "--help"}, []string{"--dry-run", "stackctl up redmine --profile debian --listen 0.0.0.0:8080"}},
		{[]string{"help", "backup-volumes"}, []string{"--encrypt-to", "stackctl backup-volumes --to sftp://"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := run(t, tc.args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("stackctl %s lacks %q", strings.Join(tc.args, " "), w)
				}
			}
		})
	}
}
