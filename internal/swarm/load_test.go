package swarm

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/cli/cli/compose/convert"
	composetypes "github.com/docker/cli/cli/compose/types"
	"github.com/moby/moby/api/types/swarm"

	"github.com/stackctl/stackctl/internal/catalog"
)

// testEnv is every variable the Redmine stack's Swarm form requires, as
// stackctl sets them at deploy.
func testEnv(t *testing.T) map[string]string {
	t.Helper()
	st, _ := catalog.LookupStack("redmine")
	env, err := st.Env(catalog.Settings{Profile: catalog.ProfileDebian, Listen: "0.0.0.0:8080"})
	if err != nil {
		t.Fatal(err)
	}
	digest := "@sha256:" + strings.Repeat("ab", 32)
	for _, svc := range []string{"db", "redmine", "nginx"} {
		env[ImageVar(svc)] = "registry.test:5000/stackctl/" + svc + digest
	}
	for _, sec := range []string{"db_password", "secret_key_base", "smtp_password", "imap_password"} {
		env[SecretVar(sec)] = "stackctl-redmine_" + sec + "_0123456789ab"
	}
	for _, c := range []string{"nginx-site", "db-app-role", "db-start"} {
		env[ConfigVar(c)] = "stackctl-redmine_" + c + "_0123456789ab"
	}
	return env
}

// specs converts every service of cfg with convert.Service, as 'docker stack
// deploy' does, with secret and config references made from the file alone
// (convert.Services would ask the engine for their IDs).
func specs(t *testing.T, cfg *composetypes.Config) map[string]swarm.ServiceSpec {
	t.Helper()
	ns := convert.NewNamespace("stackctl-redmine")
	out := map[string]swarm.ServiceSpec{}
	for _, svc := range cfg.Services {
		var secrets []*swarm.SecretReference
		for _, ref := range svc.Secrets {
			secrets = append(secrets, &swarm.SecretReference{
				SecretName: cfg.Secrets[ref.Source].Name,
				File:       &swarm.SecretReferenceFileTarget{Name: ref.Source, UID: ref.UID, GID: ref.GID, Mode: fileMode(ref.Mode)},
			})
		}
		var configs []*swarm.ConfigReference
		for _, ref := range svc.Configs {
			configs = append(configs, &swarm.ConfigReference{
				ConfigName: cfg.Configs[ref.Source].Name,
				File:       &swarm.ConfigReferenceFileTarget{Name: ref.Target, UID: "0", GID: "0", Mode: 0o444},
			})
		}
		spec, err := convert.Service(ns, svc, cfg.Networks, cfg.Volumes, secrets, configs)
		if err != nil {
			t.Fatalf("service %s: %v", svc.Name, err)
		}
		out[svc.Name] = spec
	}
	return out
}

func fileMode(m *uint32) os.FileMode {
	if m == nil {
		return 0o444
	}
	return os.FileMode(*m)
}

// TestCommittedFileConverts: the committed Swarm form loads as 'docker stack
// deploy' loads it and every service converts to the spec the model means.
func TestCommittedFileConverts(t *testing.T) {
	file, err := os.ReadFile(filepath.Join(checkout, "stacks", "redmine", FileName))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file, testEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	got := specs(t, cfg)
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, []string{"db", "nginx", "redmine"}) {
		t.Fatalf("services %q, want db, nginx, redmine (no edge on Swarm)", names)
	}
	for name, spec := range got {
		c := spec.TaskTemplate.ContainerSpec
		if !strings.HasPrefix(c.Image, "registry.test:5000/stackctl/"+name+"@sha256:") {
			t.Errorf("%s: image %q, want the digest stackctl set", name, c.Image)
		}
		if r := spec.TaskTemplate.RestartPolicy; r == nil || r.Condition != swarm.RestartPolicyConditionAny || r.Delay == nil {
			t.Errorf("%s: restart policy %+v, want any, with a delay", name, r)
		}
		if l := spec.TaskTemplate.Resources.Limits; l == nil || l.MemoryBytes == 0 || l.Pids == 0 {
			t.Errorf("%s: limits %+v, want memory and pids", name, l)
		}
		if c.Healthcheck == nil || len(c.Healthcheck.Test) < 2 {
			t.Errorf("%s: no health check", name)
		}
		if !slices.Equal(c.CapabilityDrop, []string{"CAP_ALL"}) && !slices.Equal(c.CapabilityDrop, []string{"ALL"}) {
			t.Errorf("%s: cap_drop %q, want ALL", name, c.CapabilityDrop)
		}
		if spec.UpdateConfig == nil || spec.RollbackConfig == nil || spec.UpdateConfig.Parallelism != 1 {
			t.Errorf("%s: update %+v rollback %+v, want both, one task at a time", name, spec.UpdateConfig, spec.RollbackConfig)
		}
	}

	db := got["db"]
	if l := db.TaskTemplate.Resources.Limits; l.MemoryBytes != 1<<30 || l.Pids != 256 {
		t.Errorf("db: limits %+v, want the model's 1 GiB and 256", l)
	}
	if p := db.TaskTemplate.Placement; p == nil || !slices.Equal(p.Constraints, []string{dataConstraint}) {
		t.Errorf("db: placement %+v, want the data node", p)
	}
	if m := db.Mode.Replicated; m == nil || m.Replicas == nil || *m.Replicas != 1 {
		t.Errorf("db: mode %+v, want one replica", db.Mode)
	}
	if db.UpdateConfig.Order != swarm.UpdateOrderStopFirst || db.RollbackConfig.Order != swarm.UpdateOrderStopFirst {
		t.Errorf("db: update order %q, rollback %q: PostgreSQL must never run twice on its data", db.UpdateConfig.Order, db.RollbackConfig.Order)
	}
	c := db.TaskTemplate.ContainerSpec
	if c.StopSignal != "SIGINT" || c.StopGracePeriod == nil || *c.StopGracePeriod != 60e9 {
		t.Errorf("db: stop signal %q after %v, want SIGINT, 1m", c.StopSignal, c.StopGracePeriod)
	}
	if len(c.Secrets) != 1 || c.Secrets[0].File.UID != "999" || c.Secrets[0].File.GID != "999" || c.Secrets[0].File.Mode != 0o400 ||
		c.Secrets[0].SecretName != "stackctl-redmine_db_password_0123456789ab" {
		t.Errorf("db: secrets %+v, want db_password's versioned name, 999:999, 0400", c.Secrets[0])
	}
	if len(c.Mounts) != 1 || c.Mounts[0].Source != "stackctl-redmine_db-data" || c.Mounts[0].Target != "/var/lib/postgresql/data" {
		t.Errorf("db: mounts %+v, want the stack's db-data at the release's data directory", c.Mounts)
	}

	rm := got["redmine"]
	if m := rm.Mode.Replicated; m == nil || m.Replicas == nil || *m.Replicas != 2 {
		t.Errorf("redmine: mode %+v, want 2 replicas by default", rm.Mode)
	}
	if u := rm.UpdateConfig; u.Order != swarm.UpdateOrderStartFirst || u.FailureAction != swarm.UpdateFailureActionRollback || u.Monitor == 0 {
		t.Errorf("redmine: update %+v, want start-first, rolled back on failure, monitored", u)
	}
	if p := rm.TaskTemplate.Placement; p == nil || !slices.Equal(p.Constraints, []string{dataConstraint}) {
		t.Errorf("redmine: placement %+v, want the data node (its files are node-local)", p)
	}
	if n := len(rm.TaskTemplate.ContainerSpec.Secrets); n != 4 {
		t.Errorf("redmine: %d secrets, want 4", n)
	}
	for _, m := range rm.TaskTemplate.ContainerSpec.Mounts {
		if m.Target == catalog.RedminePluginsDir {
			t.Errorf("redmine mounts a plugins volume on Swarm: %+v", m)
		}
	}

	ng := got["nginx"]
	if ng.Mode.Global == nil {
		t.Errorf("nginx: mode %+v, want global", ng.Mode)
	}
	if e := ng.EndpointSpec; e == nil || len(e.Ports) != 1 || e.Ports[0].PublishMode != swarm.PortConfigPublishModeHost ||
		e.Ports[0].PublishedPort != 8080 || e.Ports[0].TargetPort != 8080 {
		t.Errorf("nginx: endpoint %+v, want 8080 published in host mode", ng.EndpointSpec)
	}
	if u := ng.UpdateConfig; u.Order != swarm.UpdateOrderStopFirst || u.Delay == 0 {
		t.Errorf("nginx: update %+v, want stop-first (one host port per node), a while apart", u)
	}
	nc := ng.TaskTemplate.ContainerSpec
	if !nc.ReadOnly || len(nc.Configs) != 1 || nc.Configs[0].ConfigName != "stackctl-redmine_nginx-site_0123456789ab" {
		t.Errorf("nginx: read-only %v, configs %+v", nc.ReadOnly, *nc.Configs[0])
	}
	if nc.User != frontUser {
		t.Errorf("nginx: user %q, want its image's own %q", nc.User, frontUser)
	}
	if len(nc.Mounts) != 1 || nc.Mounts[0].Type != "tmpfs" || nc.Mounts[0].Target != "/tmp" || nc.Mounts[0].TmpfsOptions == nil || nc.Mounts[0].TmpfsOptions.SizeBytes != 48<<20 {
		t.Errorf("nginx: mounts %+v, want only a 48 MiB tmpfs at /tmp", nc.Mounts)
	}
}

// TestLoadInterpolatesFromEnvOnly: the variables stackctl sets change what
// runs, numbers included; nothing else of the environment is read.
func TestLoadInterpolatesFromEnvOnly(t *testing.T) {
	st, _ := catalog.LookupStack("redmine")
	file, err := Render(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := testEnv(t)
	env["STACKCTL_REDMINE_REPLICAS"] = "3"
	env["STACKCTL_REDMINE_MEMORY"] = "512m"
	env["STACKCTL_HTTP_PORT"] = "8081"
	cfg, err := Load(file, env)
	if err != nil {
		t.Fatal(err)
	}
	got := specs(t, cfg)
	if r := got["redmine"].Mode.Replicated.Replicas; *r != 3 {
		t.Errorf("replicas %d, want 3", *r)
	}
	if m := got["redmine"].TaskTemplate.Resources.Limits.MemoryBytes; m != 512<<20 {
		t.Errorf("memory %d, want 512 MiB", m)
	}
	if p := got["nginx"].EndpointSpec.Ports[0].PublishedPort; p != 8081 {
		t.Errorf("published port %d, want 8081", p)
	}

	t.Setenv(ImageVar("db"), "from-the-process-environment")
	delete(env, ImageVar("db"))
	_, err = Load(file, env)
	if err == nil || !strings.Contains(err.Error(), "services.db.image") || !strings.Contains(err.Error(), ImageVar("db")) ||
		!strings.Contains(err.Error(), FileName) {
		t.Errorf("Load without %s = %v, want an error naming the file, the field and the variable", ImageVar("db"), err)
	}
}

// TestLoadRefusesIgnoredKeys: a key Swarm ignores is an error, not a warning
// nobody reads.
func TestLoadRefusesIgnoredKeys(t *testing.T) {
	file := []byte("version: \"3.9\"\nservices:\n  web:\n    image: nginx:1.27\n    security_opt: [no-new-privileges:true]\n")
	if _, err := Load(file, nil); err == nil || !strings.Contains(err.Error(), "security_opt") {
		t.Errorf("Load = %v, want security_opt refused", err)
	}
	file = []byte("version: \"3.9\"\nservices:\n  web:\n    image: nginx:1.27\n    mem_limit: 1g\n")
	if _, err := Load(file, nil); err == nil || !strings.Contains(err.Error(), "mem_limit") {
		t.Errorf("Load = %v, want mem_limit refused", err)
	}
}
