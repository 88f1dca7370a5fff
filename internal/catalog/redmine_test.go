package catalog

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// TestRedmineHealthCheckMatchesDockerfile: the image's HEALTHCHECK (what any
// container of it runs, compose or not) and the compose model's are one check, so
// that a change to one cannot leave the other probing something else.
func TestRedmineHealthCheckMatchesDockerfile(t *testing.T) {
	path := filepath.Join(checkout, "stacks", "redmine", "Dockerfile")
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ast, err := parser.Parse(src)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	stages, _, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var image *instructions.HealthCheckCommand
	for _, st := range stages {
		for _, c := range st.Commands {
			if hc, ok := c.(*instructions.HealthCheckCommand); ok {
				image = hc
			}
		}
	}
	if image == nil {
		t.Fatalf("%s has no HEALTHCHECK", path)
	}

	var model *serviceHealth
	for _, svc := range redmineModel().Services {
		if svc.Name == "redmine" && svc.HealthCheck != nil {
			h := svc.HealthCheck
			model = &serviceHealth{test: h.Test, interval: time.Duration(*h.Interval), timeout: time.Duration(*h.Timeout),
				startPeriod: time.Duration(*h.StartPeriod), retries: int(*h.Retries)}
		}
	}
	if model == nil {
		t.Fatal("the compose model's redmine service has no health check")
	}
	got := serviceHealth{test: image.Health.Test, interval: image.Health.Interval, timeout: image.Health.Timeout,
		startPeriod: image.Health.StartPeriod, retries: image.Health.Retries}
	if !slices.Equal(got.test, model.test) || got.interval != model.interval || got.timeout != model.timeout ||
		got.startPeriod != model.startPeriod || got.retries != model.retries {
		t.Errorf("%s HEALTHCHECK = %+v\ncompose model          = %+v", path, got, *model)
	}
}

type serviceHealth struct {
	test                           []string
	interval, timeout, startPeriod time.Duration
	retries                        int
}

// TestPumaWorkers: one worker per CPU, as many as Redmine's memory holds, at least one.
func TestPumaWorkers(t *testing.T) {
	for _, tc := range []struct {
		cpus   int
		memory string
		want   int
	}{
		{2, "", 2}, {8, "", 2}, {1, "", 1}, {8, "2g", 6}, {32, "16g", MaxPumaWorkers}, {4, "256m", 1}, {4, "junk", 2},
	} {
		if got := PumaWorkers(tc.cpus, tc.memory); got != tc.want {
			t.Errorf("PumaWorkers(%d, %q) = %d, want %d", tc.cpus, tc.memory, got, tc.want)
		}
	}
}

// TestRedmineJob: the swarm job's settings reach Ruby as data, whatever they
// hold, and the admin password only through the secret's file.
func TestRedmineJob(t *testing.T) {
	hostile := map[string]string{"host_name": `tracker.example.com'; #{system("id")} "`, "protocol": "https"}
	cmd := redmineFirstStart.Job(hostile)
	if len(cmd) != 4 || cmd[0] != "sh" || cmd[1] != "-c" {
		t.Fatalf("command %q: want sh -c SCRIPT RUBY", cmd)
	}
	if !strings.Contains(cmd[2], "< /run/secrets/"+AdminPassword) {
		t.Errorf("shell %q does not feed the admin password from its secret file", cmd[2])
	}
	ruby := cmd[3]
	for _, v := range hostile {
		if strings.Contains(ruby, v) {
			t.Errorf("the setting %q is spliced into the Ruby script:\n%s", v, ruby)
		}
	}
	i := strings.Index(ruby, "JSON.parse('")
	if i < 0 {
		t.Fatalf("no JSON.parse of base64 in:\n%s", ruby)
	}
	b64 := ruby[i+len("JSON.parse('"):]
	b64 = b64[:strings.IndexByte(b64, '\'')]
	js, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(js, &got); err != nil || !maps.Equal(got, hostile) {
		t.Errorf("the settings the script decodes: %v (%v), want %v", got, err, hostile)
	}
	if !strings.HasSuffix(ruby, configureRedmineScript) {
		t.Error("the job does not end with the first start's own script")
	}
}

// TestProxiedHeadersMatchSecurityHeaders: nginx hides from Redmine's answers
// exactly the headers it sets itself, so that each is sent once: the two
// files are kept by hand, side by side, and a header added to one only
// would be sent twice or hidden for nothing.
func TestProxiedHeadersMatchSecurityHeaders(t *testing.T) {
	names := func(file, directive string) []string {
		b, err := os.ReadFile(filepath.Join("..", "..", "stacks", "nginx", file))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == directive {
				out = append(out, strings.TrimSuffix(f[1], ";"))
			}
		}
		slices.Sort(out)
		return out
	}
	set, hidden := names("security-headers.conf", "add_header"), names("proxied-headers.conf", "proxy_hide_header")
	if len(set) == 0 || !slices.Equal(set, hidden) {
		t.Errorf("security-headers.conf sets %q, proxied-headers.conf hides %q: want the same headers", set, hidden)
	}
}

// TestDBAppRoleMatchesModel: the database's scripts are plain files beside
// the compose file; the names they hold by hand (the role, the database, the
// secret's path, where the model mounts them) are the model's.
func TestDBAppRoleMatchesModel(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "stacks", "redmine", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	db := dbService()
	targets := map[string]string{}
	for _, c := range db.Configs {
		targets[c.Source] = c.Target
	}
	sql, start := read("db-app-role.sql"), read("db-start.sh")
	for _, want := range []string{
		"'/run/secrets/" + secretDBPassword.Name + "'",
		"ALTER DATABASE " + redmineDB + " OWNER TO " + redmineUser,
		"ALTER ROLE " + redmineUser + " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
		"ALTER ROLE " + pgSuperuser + " PASSWORD NULL",
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("db-app-role.sql lacks %q", want)
		}
	}
	if !strings.Contains(start, "-f "+targets[dbAppRole]+"\n") {
		t.Errorf("db-start.sh does not run db-app-role.sql where the model mounts it (%s)", targets[dbAppRole])
	}
	if got := *db.Environment["POSTGRES_USER"]; got != pgSuperuser {
		t.Errorf("POSTGRES_USER is %q, want the superuser %q: Redmine's role is made by db-app-role.sql", got, pgSuperuser)
	}
	if got := *db.Environment["POSTGRES_PASSWORD_FILE"]; got != "/run/secrets/"+secretDBPassword.Name {
		t.Errorf("POSTGRES_PASSWORD_FILE is %q", got)
	}
	if len(db.Entrypoint) != 2 || db.Entrypoint[1] != targets[dbStart] {
		t.Errorf("entrypoint %v does not run db-start.sh where the model mounts it (%s)", db.Entrypoint, targets[dbStart])
	}
}
