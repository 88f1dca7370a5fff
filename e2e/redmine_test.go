package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/basebuild"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/stack"
)

// TestRedmineStack is issue 3's demonstration on the debian profile: the stack
// comes up from nothing, data made through Redmine's REST API survives down/up
// byte for byte, a theme-only change recreates only Redmine and keeps sessions,
// and no secret leaks into compose files, 'docker inspect', logs or images.
func TestRedmineStack(t *testing.T) {
	shares(t)
	api := dockerAPI(t)
	ctx := context.Background()
	root := copyProject(t)
	state := t.TempDir()
	env := []string{instanceEnv(t), "STACKCTL_STATE_DIR=" + state, "STACKCTL_DIR=" + root}
	var transcript strings.Builder // everything stackctl printed, for the leak check
	run := func(args ...string) result {
		t.Helper()
		r := mustRun(t, env, args...)
		transcript.WriteString(r.stdout + r.stderr)
		return r
	}

	freshStack(t, env, "redmine")

	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// On an empty engine (for this stack): the plan is a first start, and up
	// does what it said.
	first := dryRun(t, env, projectRoot, "redmine", "--profile", "debian", "--listen", listen)
	wantSteps(t, first, false, [2]string{"create", "db"}, [2]string{"create", "redmine"}, [2]string{"create", "nginx"},
		[2]string{"create", "edge"}, [2]string{"first-start", "redmine"}, [2]string{"point-front", "generation 1"})
	if first.Outage.Closes || first.Outage.Refuses || first.Serves != (stack.Serves{Generation: 1, App: "redmine", Front: "nginx"}) {
		t.Errorf("plan of a first start: outage %+v, serves %+v", first.Outage, first.Serves)
	}
	if r := stackctl(t, env, "ps", "redmine"); r.code != 3 {
		t.Errorf("up --dry-run started something: ps exits %d:\n%s", r.code, r.stdout)
	}
	up := run("up", "redmine", "--profile", "debian", "--listen", listen, "--timeout", "15m")
	base := strings.TrimSpace(up.stdout)
	servesAsPlanned(t, api, first)
	secretsDir := filepath.Join(instanceState(t, state), "redmine", "secrets")
	if !strings.Contains(up.stderr, filepath.Join(secretsDir, "admin_password")) {
		t.Errorf("up does not say where the admin password is:\n%s", up.stderr)
	}
	secrets := readSecrets(t, secretsDir)
	rm := &redmine{t: t, base: base, password: secrets["admin_password"]}

	t.Run("theme is in the image at the right path", func(t *testing.T) {
		want, err := os.ReadFile(filepath.Join(root, "themes/harbor/stylesheets/application.css"))
		if err != nil {
			t.Fatal(err)
		}
		got := fileInContainer(t, api, activeRedmine(t, api), "/usr/src/redmine/themes/harbor/stylesheets/application.css")
		if !bytes.Equal(got, want) {
			t.Fatal("themes/harbor/stylesheets/application.css in the container differs from the source")
		}
	})

	// Data through the REST API: a project, an issue, a 5 MB attachment.
	attachment := make([]byte, 5<<20)
	if _, err := rand.Read(attachment); err != nil {
		t.Fatal(err)
	}
	rm.do("POST", "/projects.json", `{"project":{"name":"Harbour works","identifier":"harbour"}}`, 201)
	var up1 struct{ Upload struct{ Token string } }
	rm.json(rm.doRaw("POST", "/uploads.json?filename=soundings.bin", "application/octet-stream", attachment, 201), &up1)
	var issue struct{ Issue struct{ ID int } }
	rm.json(rm.do("POST", "/issues.json", fmt.Sprintf(`{"issue":{"project_id":"harbour","subject":"Dredge the east basin",
		"uploads":[{"token":%q,"filename":"soundings.bin","content_type":"application/octet-stream"}]}}`, up1.Upload.Token), 201), &issue)
	checkData := func(t *testing.T) {
		t.Helper()
		var got struct {
			Issue struct {
				Subject     string
				Attachments []struct {
					Filename   string
					ContentURL string `json:"content_url"`
				}
			}
		}
		rm.json(rm.do("GET", fmt.Sprintf("/issues/%d.json?include=attachments", issue.Issue.ID), "", 200), &got)
		if got.Issue.Subject != "Dredge the east basin" || len(got.Issue.Attachments) != 1 {
			t.Fatalf("issue after restart: %+v", got.Issue)
		}
		u, err := url.Parse(got.Issue.Attachments[0].ContentURL)
		if err != nil {
			t.Fatal(err)
		}
		body := rm.do("GET", u.Path, "", 200)
		if sha256.Sum256(body) != sha256.Sum256(attachment) {
			t.Fatalf("attachment differs after restart: %d bytes, want %d identical bytes", len(body), len(attachment))
		}
	}
	checkData(t)
	session := rm.login()

	t.Run("again changes nothing", func(t *testing.T) {
		before := containerIDs(t, api, redmineProject(t))
		if p := dryRun(t, env, projectRoot, "redmine"); p.Steps[0].Action != "none" || len(p.Steps) != 1 {
			t.Errorf("plan of an up that changes nothing: %+v", p.Steps)
		}
		run("up", "redmine")
		if after := containerIDs(t, api, redmineProject(t)); after != before {
			t.Fatalf("a second up recreated containers: %s -> %s", before, after)
		}
	})

	t.Run("down and up keep everything", func(t *testing.T) {
		run("down", "redmine")
		run("up", "redmine", "--timeout", "15m")
		checkData(t)
		rm.checkSession(session)
	})

	// A theme change while a probe GETs a page every 100 ms: the new Redmine
	// starts beside the one that serves and takes over; no request fails, only
	// Redmine's container is replaced, the session stays, the new stylesheet is
	// served. Then the same with a new Redmine that never gets healthy: the old
	// one keeps serving, and up fails with the tail of the new one's log.
	t.Run("theme change without a failed request", func(t *testing.T) {
		run("check-theme", "--theme", "harbor", "--apply")
		db, nginx, old := service(t, api, redmineProject(t), "db"), service(t, api, redmineProject(t), "nginx"), activeRedmine(t, api)
		// A third-party theme dropped in the way users do it, as a folder named by its id.
		writeFile(t, filepath.Join(root, "themes/lighthouse/stylesheets/application.css"),
			"@import url(/application.css);\n#header { background: #7a1f1f; }\n")
		css := filepath.Join(root, "themes/harbor/stylesheets/application.css")
		appendTo := func(line string) {
			f, err := os.OpenFile(css, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(f, line)
			f.Close()
		}
		appendTo("/* e2e: a theme-only change */")
		plan := dryRun(t, env, projectRoot, "redmine")
		wantSteps(t, plan, true, [2]string{"build", imageOf(t, "redmine")}, [2]string{"hand-over", "redmine -> redmine-b"})
		if plan.Outage.Closes || plan.Outage.Refuses {
			t.Errorf("plan of a theme change: outage %+v, want none", plan.Outage)
		}
		p := startProbe(rm.base + "projects/harbour")
		start := time.Now()
		r := run("up", "redmine", "--timeout", "15m")
		requests, failures := p.stop()
		t.Logf("theme change: up took %s; probe: %d requests, %d failed", time.Since(start).Round(100*time.Millisecond), requests, len(failures))
		if len(failures) > 0 || requests < 10 {
			t.Errorf("probe: %d of %d requests failed during the theme change: %v", len(failures), requests, failures)
		}
		if !strings.Contains(r.stderr, "Using cache") || !strings.Contains(r.stderr, "starting redmine-b beside redmine") {
			t.Errorf("up did not rebuild from cache and start the new Redmine beside the old one:\n%s", r.stderr)
		}
		if service(t, api, redmineProject(t), "db") != db || service(t, api, redmineProject(t), "nginx") != nginx || activeRedmine(t, api) == old {
			t.Errorf("containers after the theme change: want only Redmine's replaced")
		}
		servesAsPlanned(t, api, plan)
		want, _ := os.ReadFile(css)
		if got := fileInContainer(t, api, activeRedmine(t, api), "/usr/src/redmine/themes/harbor/stylesheets/application.css"); !bytes.Equal(got, want) {
			t.Error("the changed theme file is not in the new container")
		}
		if !strings.Contains(themeStylesheet(t, rm), "e2e: a theme-only change") {
			t.Error("the stylesheet served after the change is not the new one")
		}
		checkData(t)
		rm.checkSession(session)

		// A plugin that breaks the boot, dropped into the live plugins volume: the
		// Redmine that serves loaded its plugins long ago; a new one cannot start.
		serving := activeRedmine(t, api)
		execIn(t, api, serving, "sh", "-c", "mkdir -p /usr/src/redmine/plugins/stackctl_broken && "+
			"echo \"raise 'a plugin that breaks the boot, on purpose'\" >/usr/src/redmine/plugins/stackctl_broken/init.rb")
		appendTo("/* e2e: a change that never serves */")
		p = startProbe(rm.base + "projects/harbour")
		bad := stackctl(t, env, "up", "redmine", "--timeout", "3m")
		requests, failures = p.stop()
		if bad.code == 0 || !strings.Contains(bad.stderr, "redmine-b keeps serving") || !strings.Contains(bad.stderr, "breaks the boot, on purpose") {
			t.Errorf("up with a new Redmine that never gets healthy: exit %d, want a failure saying the old one serves, with its log:\n%s", bad.code, bad.stderr)
		}
		if len(failures) > 0 || requests < 10 {
			t.Errorf("probe: %d of %d requests failed while the new Redmine failed: %v", len(failures), requests, failures)
		}
		if activeRedmine(t, api) != serving {
			t.Error("the Redmine that served was replaced by one that failed")
		}
		execIn(t, api, serving, "rm", "-r", "/usr/src/redmine/plugins/stackctl_broken")

		// stackctl killed during the switch: the next command finishes or undoes it.
		appendTo("/* e2e: a change cut short */")
		killAt(t, env, "switching generation 1 from redmine-b to redmine", "up", "redmine")
		next := run("up", "redmine", "--timeout", "15m")
		if !strings.Contains(next.stderr, "the switch generation 1 from redmine-b to redmine") {
			t.Errorf("the command after a killed switch does not say it finished or undid it:\n%s", next.stderr)
		}
		activeRedmine(t, api) // exactly one
		if !strings.Contains(themeStylesheet(t, rm), "e2e: a change cut short") {
			t.Error("the stylesheet served after the up that followed a killed one is not the newest")
		}
		checkData(t)
		rm.checkSession(session)
	})

	t.Run("nginx change without a refused connection", func(t *testing.T) {
		edge, db, app := service(t, api, redmineProject(t), "edge"), service(t, api, redmineProject(t), "db"), activeRedmine(t, api)
		old := service(t, api, redmineProject(t), "nginx")
		// A header in our nginx image (its security headers, which every answer carries).
		headers := filepath.Join(root, "stacks/nginx/security-headers.conf")
		f, err := os.OpenFile(headers, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(f, `add_header X-Stackctl-E2e "front changed" always;`)
		f.Close()
		plan := dryRun(t, env, projectRoot, "redmine")
		wantSteps(t, plan, true, [2]string{"build", imageOf(t, "nginx")}, [2]string{"hand-over", "nginx -> nginx-b"})
		p := startProbe(rm.base + "projects/harbour")
		start := time.Now()
		r := run("up", "redmine", "--timeout", "15m")
		requests, failures := p.stop()
		t.Logf("nginx image change: up took %s; probe: %d requests, %d failed", time.Since(start).Round(100*time.Millisecond), requests, len(failures))
		if len(failures) > 0 || requests < 10 {
			t.Errorf("probe: %d of %d requests failed during the nginx change: %v", len(failures), requests, failures)
		}
		if !strings.Contains(r.stderr, "nginx's image changed: starting nginx-b beside nginx") {
			t.Errorf("up did not start the new nginx beside the old one:\n%s", r.stderr)
		}
		if service(t, api, redmineProject(t), "edge") != edge || service(t, api, redmineProject(t), "db") != db || activeRedmine(t, api) != app {
			t.Error("containers after the nginx change: want only nginx's replaced")
		}
		service(t, api, redmineProject(t), "nginx-b")
		servesAsPlanned(t, api, plan)
		if gone := containerIDs(t, api, redmineProject(t)); strings.Contains(gone, old) {
			t.Error("the old nginx still runs")
		}
		resp, err := http.Get(rm.base + "login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Stackctl-E2e") != "front changed" {
			t.Errorf("after the change nginx answers without the new image's header: %v", resp.Header)
		}
		rm.checkSession(session)

		// A site configuration the new nginx refuses: it never serves; the old one does.
		site := filepath.Join(root, "stacks/redmine/nginx-site.conf")
		good, err := os.ReadFile(site)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, site, strings.Replace(string(good), "server_name _;", "server_name _;\n    e2e_unknown_directive on;", 1))
		p = startProbe(rm.base + "projects/harbour")
		bad := stackctl(t, env, "up", "redmine", "--timeout", "3m")
		requests, failures = p.stop()
		if bad.code == 0 || !strings.Contains(bad.stderr, "nginx-b keeps serving") || !strings.Contains(bad.stderr, "e2e_unknown_directive") {
			t.Errorf("up with an nginx that cannot start: exit %d, want a failure saying the old one serves, with its log:\n%s", bad.code, bad.stderr)
		}
		if len(failures) > 0 || requests < 10 {
			t.Errorf("probe: %d of %d requests failed while the new nginx failed: %v", len(failures), requests, failures)
		}
		service(t, api, redmineProject(t), "nginx-b")

		// stackctl killed in the hand-over, the new nginx recorded and the old one
		// not yet gone: the next command retires the old one.
		writeFile(t, site, strings.Replace(string(good), "server_name _;", "server_name _;\n    # e2e: a change cut short", 1))
		p = startProbe(rm.base + "projects/harbour")
		killAt(t, env, "nginx serves; nginx-b finishes", "up", "redmine")
		next := run("up", "redmine", "--timeout", "15m")
		requests, failures = p.stop()
		if !strings.Contains(next.stderr, "stopping nginx-b, left beside nginx by a stopped stackctl") {
			t.Errorf("the command after a killed hand-over does not say it stopped the nginx left beside:\n%s", next.stderr)
		}
		if len(failures) > 0 {
			t.Errorf("probe: %d of %d requests failed around the killed hand-over: %v", len(failures), requests, failures)
		}
		service(t, api, redmineProject(t), "nginx") // the new one, alone
		checkData(t)
	})

	// A settings change the plan shows as a hand-over of Redmine, and a
	// PostgreSQL image change as the database recreated behind the
	// maintenance page: up then does what the plan said.
	t.Run("settings change as planned", func(t *testing.T) {
		db, front := service(t, api, redmineProject(t), "db"), frontContainer(t, api)
		writeFile(t, filepath.Join(root, "stackctl.yaml"), "version: 1\nresources:\n  redmine_memory: 900m\n")
		plan := dryRun(t, env, projectRoot, "redmine")
		from := serviceOf(t, api, activeRedmine(t, api))
		wantSteps(t, plan, true, [2]string{"hand-over", from + " -> " + otherSlot(from)})
		p := startProbe(rm.base + "projects/harbour")
		run("up", "redmine", "--timeout", "15m")
		requests, failures := p.stop()
		t.Logf("settings change: probe: %d requests, %d failed", requests, len(failures))
		if len(failures) > 0 {
			t.Errorf("probe: %d of %d requests failed during the settings change: %v", len(failures), requests, failures)
		}
		servesAsPlanned(t, api, plan)
		if service(t, api, redmineProject(t), "db") != db || frontContainer(t, api) != front {
			t.Error("containers after the settings change: want only Redmine's replaced")
		}
		checkData(t)
	})
	t.Run("digested assets from nginx's cache", func(t *testing.T) {
		m := assetLink.FindSubmatch(rm.do("GET", "/login", "", 200))
		if m == nil {
			t.Fatal("the login page links no digested stylesheet under /assets/")
		}
		var status []string
		for range 2 {
			resp, err := http.Get(strings.TrimSuffix(rm.base, "/") + string(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
				resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: %s, Cache-Control %q, Set-Cookie %q, X-Content-Type-Options %q; want 200, immutable for a year, no cookie, our security headers",
					m[1], resp.Status, resp.Header.Get("Cache-Control"), resp.Header.Get("Set-Cookie"), resp.Header.Get("X-Content-Type-Options"))
			}
			securityHeadersOnce(t, resp)
			status = append(status, resp.Header.Get("X-Cache-Status"))
		}
		if status[1] != "HIT" {
			t.Errorf("X-Cache-Status of two fetches: %q, want the second from nginx's cache (HIT)", status)
		}
		resp, err := http.Get(rm.base + "login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, "immutable") || resp.Header.Get("X-Cache-Status") != "" {
			t.Errorf("the login page: Cache-Control %q, X-Cache-Status %q; want Redmine's own, not cached", cc, resp.Header.Get("X-Cache-Status"))
		}
		securityHeaders(t, resp, false)
	})

	t.Run("check-theme, every layer", func(t *testing.T) {
		// check-theme reads the image through a throwaway container: it must
		// not leave that container's anonymous volume (Redmine's VOLUME) behind,
		// nor change the stack's own. Its own and the ones no container uses:
		// the other tests' volumes come and go beside it.
		ours := func() []string {
			var out []string
			for _, v := range volumeNames(t, api) {
				if strings.HasPrefix(v, redmineProject(t)+"_") {
					out = append(out, v)
				}
			}
			return append(out, danglingVolumes(t, api)...)
		}
		before := ours()
		r := run("check-theme")
		if after := ours(); !slices.Equal(before, after) {
			t.Errorf("check-theme changed the stack's volumes or left one no container uses:\n before %v\n after  %v", before, after)
		}
		for _, want := range []string{"harbor       settings    ok", "lighthouse   settings    ok"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("check-theme lacks %q:\n%s", want, r.stdout)
			}
		}
		shot := filepath.Join(os.TempDir(), "stackctl-e2e-harbor.png")
		r = run("check-theme", "--theme", "harbor", "--apply", "--screenshot", shot, "--json")
		var results []struct {
			Theme, Layer string
			OK           bool
		}
		if err := json.Unmarshal([]byte(r.stdout), &results); err != nil {
			t.Fatalf("check-theme --json: %v\n%s", err, r.stdout)
		}
		var layers []string
		for _, res := range results {
			if !res.OK {
				t.Errorf("layer %s failed", res.Layer)
			}
			layers = append(layers, res.Layer)
		}
		if strings.Join(layers, ",") != "source,image,settings,apply,screenshot" {
			t.Errorf("layers run: %v", layers)
		}
		png, err := os.ReadFile(shot)
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) || len(png) < 10000 {
			t.Fatalf("screenshot %s: %d bytes, %v", shot, len(png), err)
		}
		t.Logf("screenshot of Redmine with harbor applied: %s (%d bytes)", shot, len(png))
	})

	t.Run("check-theme gets past a forced password change", func(t *testing.T) {
		execIn(t, api, activeRedmine(t, api), "/docker-entrypoint.sh", "rails", "runner",
			`User.find_by_login("admin").update_column(:must_change_passwd, true)`)
		run("check-theme", "--theme", "harbor")
		changed := readSecrets(t, secretsDir)["admin_password"]
		if changed == rm.password {
			t.Fatal("check-theme got past a forced password change without recording a new password")
		}
		rm.password = changed
		secrets["admin_password (changed)"] = changed
		rm.do("GET", "/users/current.json", "", 200)
	})

	t.Run("no secret leaks", func(t *testing.T) {
		leaks := func(where, text string) {
			for name, v := range secrets {
				if strings.Contains(text, v) {
					t.Errorf("secret %s appears in %s", name, where)
				}
			}
		}
		for _, f := range []string{"stacks/redmine/compose.yaml", "stacks/nginx/compose.yaml"} {
			b, err := os.ReadFile(filepath.Join(root, f))
			if err != nil {
				t.Fatal(err)
			}
			leaks(f, string(b))
		}
		leaks("stackctl's output", transcript.String())
		leaks("the config stackctl shows", mustRun(t, env, "config", "redmine").stdout)
		res, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", "com.docker.compose.project="+redmineProject(t))})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Items {
			raw, err := api.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			leaks("docker inspect of "+c.Names[0], string(raw.Raw))
		}
		leaks("the logs", mustRun(t, env, "logs", "redmine").stdout)
		for _, img := range []string{imageOf(t, "redmine"), imageOf(t, "nginx")} {
			leaks("image "+img, imageContent(t, api, img))
		}
	})

	t.Run("check-theme failures", func(t *testing.T) { checkThemeFailures(t, env, root) })

	// Volumes removed behind stackctl's back (another state directory's down -v,
	// docker volume rm) while its state directory stays: the next up must set the
	// fresh database up, not leave Redmine's default admin/admin login open.
	t.Run("volumes removed behind stackctl's back", func(t *testing.T) {
		run("down", "redmine")
		for _, v := range []string{"db-data", "redmine-files", "redmine-plugins"} {
			if _, err := api.VolumeRemove(ctx, redmineProject(t)+"_"+v, client.VolumeRemoveOptions{Force: true}); err != nil {
				t.Fatal(err)
			}
		}
		run("up", "redmine", "--timeout", "15m")
		fresh := &redmine{t: t, base: base, password: readSecrets(t, secretsDir)["admin_password"]}
		fresh.do("GET", "/users/current.json", "", http.StatusOK)
		(&redmine{t: t, base: base, password: "admin"}).do("GET", "/users/current.json", "", http.StatusUnauthorized)
	})
	// Last, alone: the bases are every stack's; the other tests are done
	// before two of them are replaced.
	t.Run("Debian's fixes applied by update as planned", func(t *testing.T) {
		alone(t)
		// PostgreSQL's and nginx's bases as they were before Debian's last
		// fixes: built from the suite alone, under the recipe of today.
		// Redmine's too with STACKCTL_E2E_UPDATE_REDMINE=1: minutes more,
		// for the figures of docs/updates.md, not in every run.
		stale := []string{"postgres", "nginx"}
		withRedmine := os.Getenv("STACKCTL_E2E_UPDATE_REDMINE") == "1"
		if withRedmine {
			stale = append(stale, "redmine")
		}
		for _, name := range stale {
			staleBase(t, api, env, name)
		}
		run("up", "redmine", "--timeout", "15m")
		app, front := activeRedmine(t, api), frontContainer(t, api)
		db, edge := service(t, api, redmineProject(t), "db"), service(t, api, redmineProject(t), "edge")
		before := pendingFixes(t, env)
		// The edge kept the image it had (see stack.KeptEdge): the stale
		// bases reach the database and nginx.
		for _, svc := range []string{"db", "nginx"} {
			if len(before[svc]) == 0 {
				t.Errorf("status lists no fix pending for %s, built without the security and updates suites", svc)
			}
		}
		if n := len(before["redmine"]); (n != 0) != withRedmine {
			t.Errorf("status lists %d fixes pending for redmine (its base stale: %v): %v", n, withRedmine, before["redmine"])
		}
		t.Logf("fixes pending: db %d, nginx %d, redmine %d: %v", len(before["db"]), len(before["nginx"]), len(before["redmine"]), before["db"])

		plan := dryRunOf(t, env, projectRoot, "update", "redmine")
		wantStepsLike(t, plan, [2]string{"backup", ""}, [2]string{"build-base", "stackctl/base-postgres"}, [2]string{"build-base", "stackctl/base-nginx"},
			[2]string{"keep", "edge"}, [2]string{"hand-over", "nginx"},
			[2]string{"close", "the tracker"}, [2]string{"recreate", "db"}, [2]string{"open", "the tracker"})
		if !plan.Outage.Closes {
			t.Errorf("plan of an update of PostgreSQL's packages: outage %+v, want the tracker closed", plan.Outage)
		}
		// Killed after its backup, and while a base builds: the old images
		// serve, and the next update goes through.
		for _, at := range []string{"update redmine: backup:", "building stackctl/base-postgres"} {
			killed := stackctl(t, append(env, "STACKCTL_KILL_AT="+at), "update", "redmine")
			if killed.code != -1 {
				t.Errorf("update killed at %q: exit %d, want killed\n%s", at, killed.code, killed.stderr)
			}
			rm.do("GET", "/login", "", http.StatusOK)
		}
		// A scheduled update whose base cannot be built (no mmdebstrap on its
		// PATH) fails, is reported as a scheduled backup is, and changes nothing.
		reports := make(chan map[string]any, 4)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var rep map[string]any
			json.NewDecoder(r.Body).Decode(&rep)
			reports <- rep
		}))
		defer hook.Close()
		failed := stackctl(t, append(env, "PATH=/nonexistent", "STACKCTL_NOTIFY_WEBHOOK="+hook.URL), "schedule", "run", "redmine", "--", "update", "redmine")
		if failed.code == 0 || !strings.Contains(failed.stderr, "mmdebstrap") {
			t.Errorf("a scheduled update without mmdebstrap: exit %d, want a failure naming mmdebstrap:\n%s", failed.code, failed.stderr)
		}
		select {
		case rep := <-reports:
			if rep["job"] != "update" || rep["stack"] != "redmine" || rep["exit_code"] != float64(failed.code) {
				t.Errorf("the failed scheduled update's report: %v, want job update, stack redmine, exit %d", rep, failed.code)
			}
		default:
			t.Errorf("the failed scheduled update was not reported to the webhook:\n%s", failed.stderr)
		}
		rm.do("GET", "/login", "", http.StatusOK)
		if db != service(t, api, redmineProject(t), "db") || front != frontContainer(t, api) {
			t.Error("a failed scheduled update changed the stack's containers")
		}

		p := startMaintenanceProbe(rm.base + "login")
		start := time.Now()
		run("update", "redmine")
		took := time.Since(start)
		requests, failures := p.stop()
		t.Logf("update: %s; probe: %d requests, %d maintenance pages (%.1f s), %d failed", took.Round(time.Second), requests, p.closed, float64(p.closed)/10, len(failures))
		if len(failures) > 0 || p.closed == 0 {
			t.Errorf("probe: %d of %d requests failed, %d maintenance pages: want none failed, some closed: %v", len(failures), requests, p.closed, failures)
		}
		servesAsPlanned(t, api, plan)
		if service(t, api, redmineProject(t), "db") == db || frontContainer(t, api) == front ||
			(activeRedmine(t, api) != app) != withRedmine || service(t, api, redmineProject(t), "edge") != edge {
			t.Errorf("containers after the update: want the database and nginx replaced, Redmine handed over only when its base was stale (%v), the edge kept", withRedmine)
		}
		after := pendingFixes(t, env)
		for svc, list := range after {
			if len(list) > 0 && !strings.HasSuffix(svc, "(held)") {
				t.Errorf("after update, status still lists fixes pending for %s: %v", svc, list)
			}
		}
		// What dpkg says the new database image holds: the versions the fixes had.
		installed := dpkgVersions(t, api, service(t, api, redmineProject(t), "db"))
		for _, u := range before["db"] {
			if installed[u.Package] != u.Available {
				t.Errorf("db after update: %s %s, want %s (from %s)", u.Package, installed[u.Package], u.Available, u.Suite)
			}
		}
		(&redmine{t: t, base: base, password: readSecrets(t, secretsDir)["admin_password"]}).do("GET", "/users/current.json", "", http.StatusOK)
		// Nothing pending: nothing changes.
		if r := mustRun(t, env, "update", "redmine", "--dry-run"); !strings.Contains(r.stdout, "nothing to do") {
			t.Errorf("update --dry-run with nothing pending:\n%s", r.stdout)
		}
	})
}

// fix is one fix pending, as status --json lists it.
type fix struct {
	Package, Installed, Available, Suite string
}

// pendingFixes reads status --json: the fixes pending per service.
func pendingFixes(t *testing.T, env []string) map[string][]fix {
	t.Helper()
	var s struct {
		Updates *struct {
			Running []struct {
				Services []string
				Updates  []fix
				Held     string
			}
		}
		UpdatesError string `json:"updates_error"`
	}
	r := mustRun(t, env, "status", "redmine", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	if s.Updates == nil {
		t.Fatalf("status --json has no updates (%s):\n%s", s.UpdatesError, r.stdout)
	}
	out := map[string][]fix{}
	for _, im := range s.Updates.Running {
		for _, svc := range im.Services {
			if im.Held != "" {
				svc += " (held)"
			}
			out[svc] = im.Updates
		}
	}
	return out
}

// dpkgVersions is what dpkg says container has installed.
func dpkgVersions(t *testing.T, api client.APIClient, container string) map[string]string {
	t.Helper()
	raw := fileInContainer(t, api, container, "/var/lib/dpkg/status")
	out := map[string]string{}
	for _, para := range strings.Split(string(raw), "\n\n") {
		var name, version string
		installed := false
		for _, line := range strings.Split(para, "\n") {
			switch k, v, _ := strings.Cut(line, ": "); k {
			case "Package":
				name = v
			case "Version":
				version = v
			case "Status":
				installed = v == "install ok installed"
			}
		}
		if installed {
			out[name] = version
		}
	}
	return out
}

// staleBase puts under base name's tag an image of it built from the suite
// alone (no security or updates suite), labelled with today's recipe: a base
// built before Debian published its latest fixes.
func staleBase(t *testing.T, api client.APIClient, env []string, name string) {
	t.Helper()
	b, err := catalog.LookupBase(name)
	if err != nil {
		t.Fatal(err)
	}
	ref := b.DebianRef()
	info, err := api.ImageInspect(context.Background(), ref)
	if err != nil {
		t.Fatalf("base %s: %v", ref, err)
	}
	recipe := info.Config.Labels[basebuild.LabelRecipe]
	mustRun(t, append(env, basebuild.SecurityMirrorEnv+"=none"), "base", "build", name, "--force")
	relabelled(t, api, ref, basebuild.LabelRecipe+"="+recipe)
}

var themeLink = regexp.MustCompile(`href="(/assets/themes/harbor/[^"]+\.css)`)

// themeStylesheet fetches the harbor stylesheet the login page links.
// assetLink finds a digested stylesheet (Redmine's application-<digest>.css, or
// the theme's in its place when one is applied).
var assetLink = regexp.MustCompile(`href="(/assets/[^"]*-[0-9a-f]{7,}\.css)"`)

func themeStylesheet(t *testing.T, rm *redmine) string {
	t.Helper()
	m := themeLink.FindSubmatch(rm.do("GET", "/login", "", 200))
	if m == nil {
		t.Fatal("the login page links no harbor stylesheet: is the theme applied?")
	}
	return string(rm.do("GET", string(m[1]), "", 200))
}

// checkThemeFailures breaks each layer in turn, on TestRedmineStack's stack, and
// expects each layer's exit code and a message naming the fix.
func checkThemeFailures(t *testing.T, env []string, root string) {
	wrong := filepath.Join(t.TempDir(), "wrong")
	writeFile(t, wrong, "not-the-password")
	// A password file must be private: this one is open to others...
	public := filepath.Join(t.TempDir(), "public")
	writeFile(t, public, "not-the-password")
	// ...and the wrong password is a private file, so that Redmine is what refuses it.
	if err := os.Chmod(wrong, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		setup func()
		args  []string
		code  int
		msg   string
	}{
		{name: "no application.css", setup: func() { writeFile(t, filepath.Join(root, "themes/bare/README"), "x") },
			args: []string{"--theme", "bare"}, code: 10, msg: "is missing"},
		{name: "downloaded release folder, nested", setup: func() {
			writeFile(t, filepath.Join(root, "themes/PurpleMine2-master/PurpleMine2-master/stylesheets/application.css"), "x")
		}, args: []string{"--theme", "PurpleMine2-master"}, code: 10, msg: "one level down"},
		{name: "added but not built", setup: func() { writeFile(t, filepath.Join(root, "themes/fresh/stylesheets/application.css"), "x") },
			args: []string{"--theme", "fresh"}, code: 11, msg: "rebuild with 'stackctl up redmine'"},
		{name: "edited after the build", setup: func() {
			writeFile(t, filepath.Join(root, "themes/lighthouse/stylesheets/application.css"), "@import url(/application.css);\n")
		}, args: []string{"--theme", "lighthouse"}, code: 12, msg: "differs"},
		{name: "wrong admin password", args: []string{"--theme", "harbor", "--admin-password-file", wrong}, code: 13, msg: "refused the password"},
		{name: "admin password file open to others", args: []string{"--theme", "harbor", "--admin-password-file", public}, code: 13, msg: "chmod 600"},
		{name: "stack not running", setup: func() { mustRun(t, env, "down", "redmine") },
			args: []string{"--theme", "harbor"}, code: 3, msg: "stackctl up redmine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			r := stackctl(t, env, append([]string{"check-theme"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.msg) {
				t.Fatalf("check-theme %v: exit %d, want %d mentioning %q\n%s%s", tc.args, r.code, tc.code, tc.msg, r.stdout, r.stderr)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyProject copies what stackctl needs of the project into a temporary root,
// so the test can change a theme without touching the checkout.
func copyProject(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	for _, p := range []string{"stacks", "themes", ".dockerignore"} {
		if err := os.CopyFS(filepath.Join(dst, p), os.DirFS(filepath.Join(projectRoot, p))); err != nil {
			// .dockerignore is a file: CopyFS wants a directory.
			b, rerr := os.ReadFile(filepath.Join(projectRoot, p))
			if rerr != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, p), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dst
}

// privateFile reads path, which must have mode 0600.
func privateFile(t *testing.T, path string) []byte {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readSecrets(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range []string{"db_password", "secret_key_base", "admin_password"} {
		p := filepath.Join(dir, name)
		b := privateFile(t, p)
		if len(strings.TrimSpace(string(b))) < 20 {
			t.Fatalf("%s holds no real secret", p)
		}
		out[name] = strings.TrimSpace(string(b))
	}
	return out
}

// service returns the ID of the running container of a compose service.
func service(t *testing.T, api client.APIClient, project, name string) string {
	t.Helper()
	res, err := api.ContainerList(context.Background(), client.ContainerListOptions{
		Filters: client.Filters{}.Add("label", "com.docker.compose.project="+project).Add("label", "com.docker.compose.service="+name),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 1 {
		t.Fatalf("running containers of %s/%s: %d, want 1", project, name, len(res.Items))
	}
	return res.Items[0].ID
}

// fileInContainer reads one file out of a container through the engine's archive API.
func fileInContainer(t *testing.T, api client.APIClient, id, path string) []byte {
	t.Helper()
	res, err := api.CopyFromContainer(context.Background(), id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Content.Close()
	tr := tar.NewReader(res.Content)
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// imageContent is the image's config, history and every file of every layer, as text.
func imageContent(t *testing.T, api client.APIClient, ref string) string {
	t.Helper()
	rc, err := api.ImageSave(context.Background(), []string{ref})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var all bytes.Buffer
	outer := tar.NewReader(rc)
	for {
		h, err := outer.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(h.Name, ".tar") {
			inner := tar.NewReader(outer)
			for {
				if _, err := inner.Next(); err != nil {
					break
				}
				io.Copy(&all, inner)
			}
			continue
		}
		io.Copy(&all, outer)
	}
	return all.String()
}

// redmine is a client of the stack's Redmine, through nginx.
type redmine struct {
	t        *testing.T
	base     string
	password string
	// client asks, when not nil (one that trusts a test CA); else http.DefaultClient.
	client *http.Client
}

func (r *redmine) do(method, path, body string, want int) []byte {
	r.t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return r.doRaw(method, path, "application/json", b, want)
}

func (r *redmine) doRaw(method, path, contentType string, body []byte, want int) []byte {
	r.t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(r.base, "/")+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.SetBasicAuth("admin", r.password)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	c := http.DefaultClient
	if r.client != nil {
		c = r.client
	}
	resp, err := c.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		r.t.Fatalf("%s %s: %s, want %d\n%.500s", method, path, resp.Status, want, out)
	}
	return out
}

func (r *redmine) json(b []byte, v any) {
	r.t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		r.t.Fatalf("decoding %.200s: %v", b, err)
	}
}

var authenticityToken = regexp.MustCompile(`name="authenticity_token" value="([^"]+)"`)

// login signs in through the login form, as a browser does, and returns the session.
func (r *redmine) login() http.CookieJar {
	r.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(r.base + "login")
	if err != nil {
		r.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := authenticityToken.FindSubmatch(page)
	if m == nil {
		r.t.Fatalf("no authenticity token on the login page:\n%.500s", page)
	}
	resp, err = c.PostForm(r.base+"login", url.Values{
		"username": {"admin"}, "password": {r.password}, "authenticity_token": {string(m[1])},
	})
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	r.checkSession(jar)
	return jar
}

// checkSession fails unless jar's session is still logged in.
func (r *redmine) checkSession(jar http.CookieJar) {
	r.t.Helper()
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(r.base + "my/account")
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("GET /my/account with the session cookie: %s (location %q), want 200: the session did not survive", resp.Status, resp.Header.Get("Location"))
	}
}

// containerIDs lists the project's container IDs, sorted, as one string.
func containerIDs(t *testing.T, api client.APIClient, project string) string {
	t.Helper()
	res, err := api.ContainerList(context.Background(), client.ContainerListOptions{
		All: true, Filters: client.Filters{}.Add("label", "com.docker.compose.project="+project),
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(res.Items))
	for i, c := range res.Items {
		ids[i] = c.ID
	}
	return sortedIDs(ids)
}

// execIn runs cmd in a container and fails the test unless it exits 0.
func execIn(t testing.TB, api client.APIClient, id string, cmd ...string) {
	t.Helper()
	ctx := context.Background()
	created, err := api.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	att, err := api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, err = stdcopy.StdCopy(&out, &out, att.Reader)
	att.Close()
	if err != nil {
		t.Fatal(err)
	}
	res, err := api.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%v in %.12s: exit %d, %v\n%s", cmd, id, res.ExitCode, err, out.String())
	}
}

// volumeNames lists the engine's volumes, sorted.
// anonymousName is the name the engine gives a volume nobody named.
var anonymousName = regexp.MustCompile(`^[0-9a-f]{64}$`)

// danglingVolumes are the names of the anonymous volumes no container uses, sorted.
func danglingVolumes(t *testing.T, api client.APIClient) []string {
	t.Helper()
	res, err := api.VolumeList(context.Background(), client.VolumeListOptions{Filters: client.Filters{}.Add("dangling", "true")})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range res.Items {
		if anonymousName.MatchString(v.Name) {
			out = append(out, v.Name)
		}
	}
	slices.Sort(out)
	return out
}

func volumeNames(t *testing.T, api client.APIClient) []string {
	t.Helper()
	res, err := api.VolumeList(context.Background(), client.VolumeListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range res.Items {
		out = append(out, v.Name)
	}
	slices.Sort(out)
	return out
}
