package swarm

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/docker/cli/cli/compose/convert"
	composetypes "github.com/docker/cli/cli/compose/types"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/report"
)

const testNS = "stackctl-redmine"

// deployment is the Redmine stack's Swarm file, loaded as a deploy loads it,
// with content for every secret and config it names; env overrides testEnv.
func deployment(t *testing.T, env map[string]string) Deployment {
	t.Helper()
	st, _ := catalog.LookupStack("redmine")
	file, err := Render(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	vars := testEnv(t)
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := Load(file, vars)
	if err != nil {
		t.Fatal(err)
	}
	dep := Deployment{Namespace: testNS, Config: cfg, Secrets: map[string][]byte{}, Configs: map[string][]byte{}}
	for _, s := range cfg.Secrets {
		dep.Secrets[s.Name] = []byte("content of " + s.Name)
	}
	for _, c := range cfg.Configs {
		dep.Configs[c.Name] = []byte("server {}")
	}
	return dep
}

// kinds counts f's recorded calls by their first two words ("secret create").
func kinds(calls []string) map[string]int {
	out := map[string]int{}
	for _, c := range calls {
		w := strings.Fields(c)
		out[w[0]+" "+w[1]]++
	}
	return out
}

// A first deploy makes the network, the secrets and the configs before the
// services, which name the secrets by the IDs the swarm gave them.
func TestDeployFirst(t *testing.T) {
	f := &swarmAPI{}
	var log bytes.Buffer
	dep := deployment(t, nil)
	if err := (Deployer{API: f, Report: report.New(&log, report.Options{})}).Deploy(context.Background(), dep); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"network create": 1, "secret create": 4, "config create": 3, "service create": 3}
	if got := kinds(f.calls); !maps.Equal(got, want) {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
	if f.calls[0] != "network create stackctl-redmine_default overlay" {
		t.Errorf("first call %q: the stack's default network, an overlay, comes first", f.calls[0])
	}
	firstService := slices.IndexFunc(f.calls, func(c string) bool { return strings.HasPrefix(c, "service") })
	if firstService != len(f.calls)-3 {
		t.Errorf("calls %v: services must come after every secret and config they name", f.calls)
	}
	if got := f.calls[firstService:]; !slices.Equal(got, []string{"service create stackctl-redmine_db", "service create stackctl-redmine_nginx", "service create stackctl-redmine_redmine"}) {
		t.Errorf("services created %v, want db, nginx, redmine, in order", got)
	}
	for _, s := range f.secrets {
		if s.Spec.Labels[convert.LabelNamespace] != testNS || s.Spec.Labels[kindLabel] != "secret" {
			t.Errorf("secret %s labels %v: want the stack's and stackctl's kind, or Prune cannot find it", s.Spec.Name, s.Spec.Labels)
		}
		if string(s.Spec.Data) != "content of "+s.Spec.Name {
			t.Errorf("secret %s holds %q", s.Spec.Name, s.Spec.Data)
		}
	}
	if c := f.configs[0]; c.Spec.Labels[kindLabel] != "config" || string(c.Spec.Data) != "server {}" {
		t.Errorf("config %+v: want stackctl's kind label and the content given", c.Spec)
	}
	db, _ := f.serviceNamed("stackctl-redmine_db")
	pw, _ := f.secretNamed("stackctl-redmine_db_password_0123456789ab")
	refs := db.Spec.TaskTemplate.ContainerSpec.Secrets
	if !slices.ContainsFunc(refs, func(r *swarm.SecretReference) bool { return r.SecretID == pw.ID && pw.ID != "" }) {
		t.Errorf("db's secret references %+v do not name the created secret %s", refs, pw.ID)
	}
	for _, say := range []string{"network stackctl-redmine_default created", "secret stackctl-redmine_db_password_0123456789ab created",
		"service stackctl-redmine_db: image has no digest", "service stackctl-redmine_redmine created"} {
		if !strings.Contains(log.String(), say) {
			t.Errorf("log does not say %q:\n%s", say, &log)
		}
	}
}

// A redeploy of the same file creates nothing and updates every service at
// the version the swarm has, keeping a forced update's counter: changing it
// would restart every task.
func TestDeployAgain(t *testing.T) {
	f := &swarmAPI{}
	d := Deployer{API: f}
	dep := deployment(t, nil)
	if err := d.Deploy(context.Background(), dep); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(f.services, func(s swarm.Service) bool { return s.Spec.Name == "stackctl-redmine_redmine" })
	f.services[i].Spec.TaskTemplate.ForceUpdate = 3
	f.services[i].Version.Index = 7 // the operator updated it meanwhile
	f.calls = nil
	if err := d.Deploy(context.Background(), dep); err != nil {
		t.Fatal(err)
	}
	if got := kinds(f.calls); !maps.Equal(got, map[string]int{"service update": 3}) {
		t.Fatalf("calls %v, want three service updates and nothing created", f.calls)
	}
	if rm, _ := f.serviceNamed("stackctl-redmine_redmine"); rm.Spec.TaskTemplate.ForceUpdate != 3 {
		t.Errorf("force update %d after a redeploy, want 3 kept", rm.Spec.TaskTemplate.ForceUpdate)
	}
}

// A changed secret is a new version: created beside the old one, which the
// updated service's previous spec still names (Swarm's rollback needs it),
// so Prune keeps it until the deploy after.
func TestDeployNewSecretVersionAndPrune(t *testing.T) {
	f := &swarmAPI{}
	d := Deployer{API: f}
	ctx := context.Background()
	if err := d.Deploy(ctx, deployment(t, nil)); err != nil {
		t.Fatal(err)
	}
	const old, changed = "stackctl-redmine_smtp_password_0123456789ab", "stackctl-redmine_smtp_password_fedcba987654"
	dep := deployment(t, map[string]string{SecretVar("smtp_password"): changed})
	f.calls = nil
	if err := d.Deploy(ctx, dep); err != nil {
		t.Fatal(err)
	}
	if got := kinds(f.calls); got["secret create"] != 1 || !slices.Contains(f.calls, "secret create "+changed) {
		t.Fatalf("calls %v, want the new version alone created", f.calls)
	}
	rm, _ := f.serviceNamed("stackctl-redmine_redmine")
	sec, _ := f.secretNamed(changed)
	if !slices.ContainsFunc(rm.Spec.TaskTemplate.ContainerSpec.Secrets, func(r *swarm.SecretReference) bool { return r.SecretID == sec.ID }) {
		t.Errorf("redmine does not use the new version %s", sec.ID)
	}

	f.calls = nil
	if err := d.Prune(ctx, testNS); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 0 {
		t.Errorf("prune after one update removed %v: the previous spec (a rollback) still needs them", f.calls)
	}
	if err := d.Deploy(ctx, dep); err != nil {
		t.Fatal(err)
	}
	f.calls = nil
	if err := d.Prune(ctx, testNS); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.calls, []string{"secret remove " + old}) {
		t.Errorf("prune after the next deploy: %v, want only %s removed", f.calls, old)
	}
}

func TestDeployFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		// change breaks the deployment or the swarm.
		change func(*Deployment, *swarmAPI)
		is     error
		says   string
		// services is whether any service may have been made.
		services bool
	}{
		{name: "an external network", change: func(d *Deployment, _ *swarmAPI) {
			d.Config.Networks = map[string]composetypes.NetworkConfig{"default": {Name: "outside", External: composetypes.External{External: true}}}
		}, is: ErrRefused, says: "names external networks outside, which stackctl does not make"},
		{name: "a secret without content", change: func(d *Deployment, _ *swarmAPI) {
			delete(d.Secrets, "stackctl-redmine_db_password_0123456789ab")
		}, says: "converting the stack file's services"},
		{name: "the network cannot be made", change: func(_ *Deployment, f *swarmAPI) { f.fail = map[string]error{"NetworkCreate": errBoom} },
			is: errBoom, says: "creating network stackctl-redmine_default"},
		{name: "a secret cannot be made", change: func(_ *Deployment, f *swarmAPI) { f.fail = map[string]error{"SecretCreate": errBoom} },
			is: errBoom, says: "creating secret stackctl-redmine_db_password_0123456789ab"},
		{name: "the config cannot be made", change: func(_ *Deployment, f *swarmAPI) { f.fail = map[string]error{"ConfigCreate": errBoom} },
			is: errBoom, says: "creating config stackctl-redmine_db-app-role_0123456789ab"},
		{name: "the secrets cannot be listed", change: func(_ *Deployment, f *swarmAPI) { f.fail = map[string]error{"SecretList": errBoom} },
			is: errBoom, says: "listing the stack's secrets"},
		{name: "a service cannot be made", change: func(_ *Deployment, f *swarmAPI) { f.fail = map[string]error{"ServiceCreate": errBoom} },
			is: errBoom, says: "creating service stackctl-redmine_db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &swarmAPI{}
			dep := deployment(t, nil)
			tc.change(&dep, f)
			err := Deployer{API: f}.Deploy(context.Background(), dep)
			if err == nil || !strings.Contains(err.Error(), tc.says) || tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err %v, want %v saying %q", err, tc.is, tc.says)
			}
			if len(f.services) > 0 {
				t.Errorf("services %d made by a deploy that failed before them", len(f.services))
			}
		})
	}

	t.Run("an update refused", func(t *testing.T) {
		f := &swarmAPI{}
		dep := deployment(t, nil)
		if err := (Deployer{API: f}).Deploy(context.Background(), dep); err != nil {
			t.Fatal(err)
		}
		f.fail = map[string]error{"ServiceUpdate": errBoom}
		err := Deployer{API: f}.Deploy(context.Background(), dep)
		if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "updating service stackctl-redmine_db") {
			t.Fatalf("err %v, want the update's failure naming the service", err)
		}
	})
}

func TestCheckManager(t *testing.T) {
	for _, tc := range []struct {
		name string
		sw   swarm.Info
		fail error
		is   error
		says string
	}{
		{name: "a manager", sw: swarm.Info{LocalNodeState: swarm.LocalNodeStateActive, ControlAvailable: true}},
		{name: "in no swarm", sw: swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}, is: ErrRefused,
			says: `the engine tcp://manager.test:2375 is in no swarm (state "inactive")`},
		{name: "a worker", sw: swarm.Info{LocalNodeState: swarm.LocalNodeStateActive}, is: ErrRefused,
			says: "is a swarm worker, which cannot deploy: point --swarm-host at a manager"},
		{name: "no answer", fail: errBoom, is: errs.ErrUnavailable, says: "asking the engine whether it manages a swarm: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &swarmAPI{info: system.Info{Swarm: tc.sw}, fail: map[string]error{"Info": tc.fail}}
			err := Deployer{API: f}.CheckManager(context.Background())
			if tc.is == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err %v, want %v saying %q", err, tc.is, tc.says)
			}
		})
	}
}

func TestManager(t *testing.T) {
	f := &swarmAPI{info: system.Info{Name: "node1", Swarm: swarm.Info{NodeAddr: "10.0.0.2"}}}
	addr, host, err := Deployer{API: f}.Manager(context.Background())
	if err != nil || addr != "10.0.0.2" || host != "node1" {
		t.Fatalf("Manager = %q, %q, %v; want the advertised address and the node's name", addr, host, err)
	}
	f.fail = map[string]error{"Info": errBoom}
	if _, _, err := (Deployer{API: f}).Manager(context.Background()); !errors.Is(err, errBoom) {
		t.Errorf("err %v, want the engine's", err)
	}
}

// Services and Built name what the Swarm form runs: every service of the
// rendered file, and those of them whose image stackctl builds and pushes.
func TestServicesOfTheSwarmForm(t *testing.T) {
	st, _ := catalog.LookupStack("redmine")
	dep := deployment(t, nil)
	var inFile []string
	for _, s := range dep.Config.Services {
		inFile = append(inFile, s.Name)
	}
	if got, want := slices.Sorted(slices.Values(Services(st))), slices.Sorted(slices.Values(inFile)); !slices.Equal(got, want) {
		t.Errorf("Services = %v, the file has %v", got, want)
	}
	for _, b := range Built(st) {
		if !slices.Contains(Services(st), b) {
			t.Errorf("built service %s is not a service of the Swarm form", b)
		}
	}
	if slices.Contains(Built(st), "db") {
		t.Error("the database's image is pulled or based, not built from the stack's Dockerfile")
	}
}
