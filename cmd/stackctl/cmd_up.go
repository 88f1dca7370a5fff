package main

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/settings"
	"github.com/stackctl/stackctl/internal/stack"
)

type upOptions struct {
	profile      string
	listen       string
	mirror       string
	rebuildBases bool
	timeout      time.Duration
	noWait       bool
	// A deploy on a swarm (see docs/swarm.md).
	on          string
	swarmHost   string
	registry    string
	dataNode    string
	dataHost    string
	replicas    int
	filesVolume []string
	dryRun      bool
	json        bool
}

func (o *upOptions) AddFlags(fs *pflag.FlagSet) {
	profileFlag(fs, &o.profile, envProfile(), profileUsage)
	fs.StringVar(&o.listen, "listen", "", "host address:port to publish the stack on (default: the settings file's listen, else as last time, else "+catalog.DefaultListen+")")
	mirrorFlag(fs, &o.mirror)
	fs.BoolVar(&o.rebuildBases, "rebuild-bases", false, "rebuild the debian bases even when their recipe has not changed")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for the stack to become healthy")
	fs.BoolVar(&o.noWait, "no-wait", false, "return once containers are started, without waiting for health (a first start's configuration waits for the next up)")
	fs.StringVar(&o.on, "on", "", "where the stack runs: engine (this Docker engine, with Compose) or swarm (a Docker Swarm; see docs/swarm.md) (default: where it runs already, else engine)")
	fs.StringVar(&o.swarmHost, "swarm-host", "", "with --on swarm: the API address of a manager of the swarm, such as tcp://10.0.0.2:2375 (default: DOCKER_HOST's engine)")
	fs.StringVar(&o.registry, "registry", "", "with --on swarm: REGISTRY[/PREFIX] the images are pushed to and the nodes pull from, by digest (default: the one recorded)")
	fs.StringVar(&o.dataNode, "data-node", "", "with --on swarm: the node to label "+stack.SwarmDataLabel+"=true, which keeps the database and its node-local volumes, when no node is labelled")
	fs.StringVar(&o.dataHost, "data-node-host", "", "with --on swarm: the API address of the data node's engine, where backup-volumes reads the database and files (default: --swarm-host's when the manager is the data node)")
	fs.IntVar(&o.replicas, "replicas", 0, "with --on swarm: Redmine's tasks (default 2); with node-local files they all run on the data node")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print what up would build, create and replace, in which order, whether and for how long the tracker would close, and what serves after; change nothing")
	fs.BoolVar(&o.json, "json", false, "print the result (with --dry-run, the plan) as JSON on stdout, and progress as JSON lines on stderr")
	fs.StringSliceVar(&o.filesVolume, "files-volume", nil, "with --on swarm: local driver options (KEY=VALUE,...) of storage every node mounts for Redmine's files, such as type=nfs,o=addr=10.0.0.5,device=:/export/files; Redmine's replicas then run on any node")
}

func newUpCommand(g *globalOptions) *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up STACK",
		Short: "Build what is missing, start a stack and wait until it answers",
		Long: `Build what is missing, start a stack and wait until it answers.

On the debian profile the base images are built first when missing or stale
(see 'stackctl base build'). The stack's images are then built, its containers
created or recreated only where their configuration changed, and stackctl waits
until every service is healthy and the stack's URL answers, then prints the URL.
Running it again changes nothing.

The redmine stack's secrets (database password, secret key base, administrator
password) are generated on its first start into files of mode 0600 under
--state-dir, and handed to the containers only as files.

The site's settings file, stackctl.yaml, is read first and refused (exit 2)
with every problem at its line; so are the secret files it names unless they
are yours with mode 0600 or stricter. up applies listen, http_listen, tls,
resources (memory limits), redmine.puma, and Redmine's language, host name,
protocol and emission address, which it writes into Redmine's settings on
every run. It refuses any mail setting: this version checks it but does not
apply it yet. The address published on is --listen, else the settings file's
listen, else the one recorded by the last up, else ` + catalog.DefaultListen + `.
On this host's engine, up first tries each address it would publish on and
refuses one that another process or container holds (exit 2), naming the
address and, where it can, what holds it, before it builds or creates
anything; a port the stack's own containers publish is its own. A remote
engine's refusal is told the same way, once its containers are created.

With tls.mode other than off, nginx serves HTTPS on that address and plain
HTTP, which redirects to it, on http_listen. Mode files' certificate and key
are checked before anything changes (the key is the certificate's, the chain
verifies, it is valid now and covers url's host and tls.names), and refused
with exit 2; modes self-signed and acme make or have the certificate issued,
and renew it when it is due (see 'stackctl renew'). up then waits until
HTTPS answers on that address, verifying the certificate for the site's host
name (url's, else the first of tls.names) against the system's roots and the
chain it gave nginx, as check-theme and upgrade do, and prints url, else
https:// and the address. See docs/https.md.

A changed setting takes effect as any other change
does: Redmine and nginx are handed over to new containers without an outage,
the database (a changed db_memory) is recreated. See docs/settings.md.

With --on swarm, up deploys the stack on a Docker Swarm instead, from the
same model (stacks/redmine/swarm.yaml): it builds the images here, pushes
them to --registry and deploys them by digest through the API of a manager
(--swarm-host, else DOCKER_HOST's engine), creates the secrets under names
that change with their content, pins the database to the node labelled
org.stackctl.data=true (--data-node labels one), waits until every service
runs healthy, runs the first start as a one-off job, and prints the URL
through nginx on the manager's node. Swarm rolls a change out: Redmine
start-first and rolled back when its new tasks fail their health check,
nginx stop-first one node at a time, PostgreSQL stop-first (Redmine answers
with errors until it is back). A service the deploy would not change is left
as it runs. The stack's state remembers the swarm: later commands (up, ps,
logs, down, check-theme) go there. Exits 29 when the swarm cannot take the
stack, 30 when its services do not run healthy in time. See docs/swarm.md.

With --dry-run, up prints its plan and changes nothing: what it would build,
create, hand over or recreate, whether and for how long the tracker would
close, and what serves after. On a swarm (also with --on swarm, for a first
deploy) the plan asks the manager what runs and says which images are built
and pushed, the data node labelled, and which services are created, updated
(and how Swarm rolls each out), scaled or left as they run.`,
		Example: `  stackctl up redmine
  stackctl up redmine --on swarm --swarm-host tcp://10.0.0.2:2375 --registry 10.0.0.2:5000 --data-node node1
  stackctl up redmine --profile debian --listen 0.0.0.0:8080
  STACKCTL_PROFILE=debian stackctl up nginx`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUp(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runUp(ctx context.Context, g *globalOptions, o *upOptions, args []string) error {
	profile, err := profileAndListen(o.profile, o.listen)
	if err != nil {
		return err
	}
	set, err := g.settings()
	if err != nil {
		return err
	}
	if err := set.CheckFiles(); err != nil {
		return err
	}
	if err := set.HTTPS().Verify(time.Now()); err != nil {
		return err
	}
	files, err := parseDriverOpts(o.filesVolume)
	if err != nil {
		return err
	}
	opts := stack.UpOptions{
		Profile: profile, Listen: listenFor(o.listen, set), Mirror: o.mirror, RebuildBases: stack.Rebuild{All: o.rebuildBases}, Timeout: o.timeout, NoWait: o.noWait,
		Swarm: stack.SwarmUp{Host: o.swarmHost, Registry: o.registry, DataNode: o.dataNode, DataNodeHost: o.dataHost, Replicas: o.replicas, FilesVolume: files},
	}
	if o.dryRun {
		// Looks only: no lock, nothing finished or recorded.
		s, err := g.openOn(ctx, args, stack.Read, stack.OpenOptions{Purpose: "up --dry-run", On: o.on})
		if err != nil {
			return err
		}
		defer s.Close()
		plan, err := s.Plan(ctx, opts)
		if err != nil {
			return err
		}
		if o.json {
			return writeJSON(g.stdout, plan)
		}
		return plan.WriteText(g.stdout)
	}
	s, err := g.openOn(ctx, args, stack.Apply, stack.OpenOptions{Purpose: "up", On: o.on})
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.Up(ctx, opts)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(g.stdout, upResult{
			Stack: s.Name(), Where: s.Place(), Profile: res.Choice.Profile, URL: res.URL, Starting: o.noWait,
			HTTPS: res.HTTPS, AdminPasswordFile: res.AdminPasswordFile, Notes: res.Notes,
		})
	}
	switch {
	case o.noWait:
		g.rep.Printf("stack %s is starting on %s, base %s; 'stackctl ps %s' shows its health", s.Name(), s.Place(), res.Choice.Profile, s.Name())
		if fs := s.Def.FirstStart; fs != nil {
			g.rep.Printf("on new data, the first start (%s) waits for the next 'stackctl up %s' without --no-wait: "+
				"until then Redmine keeps its default admin/admin login", fs.Says, s.Name())
		}
	default:
		g.rep.Printf("stack %s is up on %s, base %s", s.Name(), s.Place(), res.Choice.Profile)
	}
	for _, note := range res.Notes {
		g.rep.Printf("%s", note)
	}
	if h := res.HTTPS; h.NotAfter != "" {
		g.rep.Printf("HTTPS (tls.mode %s): nginx serves a certificate valid until %s", h.Mode, h.NotAfter)
	}
	if res.AdminPasswordFile != "" {
		g.rep.Printf("log in as admin with the password in %s", res.AdminPasswordFile)
	}
	fmt.Fprintln(g.stdout, res.URL)
	return nil
}

// upResult is what up prints with --json.
type upResult struct {
	Stack   string          `json:"stack"`
	Where   string          `json:"where"`
	Profile catalog.Profile `json:"profile"`
	URL     string          `json:"url"`
	// Starting: --no-wait returned before the stack was healthy.
	Starting          bool              `json:"starting,omitempty"`
	HTTPS             stack.HTTPSResult `json:"https"`
	AdminPasswordFile string            `json:"admin_password_file,omitempty"`
	Notes             []string          `json:"notes,omitempty"`
}

// listenFor is the address up asks to publish on: --listen, else the settings
// file's listen; with neither, the runner keeps the address the last up
// recorded, else catalog.DefaultListen.
func listenFor(flag string, set settings.Loaded) string { return cmp.Or(flag, set.Listen) }
