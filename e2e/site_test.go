package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/client"
)

// TestSite is issue 16's first demonstration: a site made by 'stackctl init' in
// an empty directory outside the checkout runs the Redmine stack from the
// binary alone (TestMain's 'go build'), driven from another directory with --dir
// and from inside the site without it; a theme dropped into the site's themes/
// is baked into the image and offered (check-theme passes for it).
func TestSite(t *testing.T) {
	shares(t)
	api := dockerAPI(t)
	siteDir := t.TempDir() // empty, outside the checkout
	elsewhere := t.TempDir()
	state := t.TempDir()
	// No site from the environment: where the site comes from is what is
	// tested. No instance either (TestMain unsets it): the site's settings
	// file names it.
	env := []string{"STACKCTL_STATE_DIR=" + state, "STACKCTL_DIR=", "STACKCTL_ROOT="}
	atSite := []string{"--dir", siteDir}

	made := mustRunIn(t, siteDir, env, "init")
	if got := strings.TrimSpace(made.stdout); got != siteDir {
		t.Fatalf("init printed %q, want the site %s", got, siteDir)
	}
	for _, p := range []string{"stackctl.yaml", "themes/harbor/stylesheets/application.css", "plugins/README.md"} {
		if _, err := os.Stat(filepath.Join(siteDir, p)); err != nil {
			t.Fatalf("init: %v", err)
		}
	}
	nameInstance(t, siteDir, instanceOf(t))
	// Down with --volumes before (what an earlier run left) and after.
	freshStack(t, slices.Concat(env, []string{"STACKCTL_DIR=" + siteDir}), "redmine")

	built := filepath.Join(siteDir, ".stackctl", "build")
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	up := mustRunIn(t, elsewhere, env, append(atSite, "up", "redmine", "--profile", "debian", "--listen", listen, "--timeout", "15m")...)
	base := strings.TrimSpace(up.stdout)
	if !strings.HasPrefix(base, "http://"+listen) {
		t.Fatalf("up printed %q, want Redmine's URL on %s", base, listen)
	}
	rm := &redmine{t: t, base: base, password: readSecrets(t, filepath.Join(instanceState(t, state), "redmine", "secrets"))["admin_password"]}
	rm.do("GET", "/users/current.json", "", 200)
	if got, want := workingDir(t, api), filepath.Join(built, "stacks", "redmine"); got != want {
		t.Errorf("Redmine was created from %s, want the site's %s: not the checkout's stacks", got, want)
	}
	sameInImage(t, api, siteDir, "harbor")

	// A third-party theme dropped in the way users do it, as a folder named by its id.
	writeFile(t, filepath.Join(siteDir, "themes/lighthouse/stylesheets/application.css"),
		"@import url(/application.css);\n#header { background: #7a1f1f; }\n")
	inside := filepath.Join(siteDir, "themes")
	again := mustRunIn(t, inside, env, "up", "redmine", "--timeout", "15m")
	if !strings.Contains(again.stderr, "wrote "+built) {
		t.Errorf("up after a theme was added does not say it rewrote %s:\n%s", built, again.stderr)
	}
	if got := strings.TrimSpace(again.stdout); got != base {
		t.Errorf("up from inside the site printed %q, want the same Redmine, %s", got, base)
	}
	sameInImage(t, api, siteDir, "lighthouse")

	r := mustRunIn(t, siteDir, env, "check-theme")
	for _, want := range []string{"harbor       settings    ok", "lighthouse   settings    ok"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check-theme lacks %q:\n%s", want, r.stdout)
		}
	}
	mustRunIn(t, siteDir, env, "check-theme", "--theme", "lighthouse", "--apply")

	t.Run("two sites, two trackers", func(t *testing.T) { twoSites(t, api, env, siteDir, state, rm) })

	mustRunIn(t, elsewhere, env, append(atSite, "down", "redmine", "--volumes")...)
	if ids := containerIDs(t, api, redmineProject(t)); ids != "" {
		t.Errorf("containers left after down --volumes: %s", ids)
	}
}

// nameInstance sets the instance in the settings file of the site at dir.
func nameInstance(t *testing.T, dir, name string) {
	t.Helper()
	path := filepath.Join(dir, "stackctl.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(b)+"\ninstance: "+name+"\n")
}

// twoSites is issue 30's second tracker on the host: another site, on the
// same engine and state directory, naming another instance in its settings
// file, up beside the first on its own port; both serve, and a backup and a
// restore of the first (a new generation beside its serving one) leave the
// second's containers, volumes and generations as they were.
func twoSites(t *testing.T, api client.APIClient, env []string, first, state string, rm *redmine) {
	other := t.TempDir()
	mustRunIn(t, other, env, "init")
	name := instanceOf(t) + "-b"
	nameInstance(t, other, name)
	atOther := slices.Concat(env, []string{"STACKCTL_DIR=" + other})
	freshStack(t, atOther, "redmine")
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	up := mustRun(t, atOther, "up", "redmine", "--profile", "debian", "--listen", listen, "--timeout", "15m")
	second := &redmine{t: t, base: strings.TrimSpace(up.stdout),
		password: readSecrets(t, filepath.Join(state, "instances", name, "redmine", "secrets"))["admin_password"]}
	second.do("GET", "/users/current.json", "", 200)
	rm.do("GET", "/users/current.json", "", 200)

	project := "stackctl-redmine-" + name
	look := func() (ids string, vols []string, gens string) {
		for _, v := range volumeNames(t, api) {
			if strings.HasPrefix(v, project+"_") {
				vols = append(vols, v)
			}
		}
		// Each generation as recorded, without the size its volumes have
		// now: a serving tracker's database grows by itself.
		var listed []map[string]any
		if err := json.Unmarshal([]byte(mustRun(t, atOther, "generations", "redmine", "--json").stdout), &listed); err != nil {
			t.Fatal(err)
		}
		for _, g := range listed {
			delete(g, "size")
		}
		b, _ := json.Marshal(listed)
		return containerIDs(t, api, project), vols, string(b)
	}
	ids, vols, gens := look()
	if ids == "" || len(vols) == 0 {
		t.Fatalf("the second site's tracker has containers %q and volumes %q: want its own", ids, vols)
	}
	atFirst := slices.Concat(env, []string{"STACKCTL_DIR=" + first})
	arch := strings.TrimSpace(mustRun(t, atFirst, "backup-volumes", "--out", t.TempDir()).stdout)
	mustRun(t, atFirst, "restore-volumes", "--yes", arch, "--timeout", "15m")
	rm.do("GET", "/users/current.json", "", 200)
	if ids2, vols2, gens2 := look(); ids2 != ids || !slices.Equal(vols2, vols) || gens2 != gens {
		t.Errorf("the first site's backup and restore changed the second's tracker:\ncontainers %s -> %s\nvolumes %q -> %q\ngenerations %s -> %s",
			ids, ids2, vols, vols2, gens, gens2)
	}
	second.do("GET", "/users/current.json", "", 200)
}

// workingDir is the compose working directory the serving Redmine was created from.
func workingDir(t *testing.T, api client.APIClient) string {
	t.Helper()
	id := activeRedmine(t, api)
	res, err := api.ContainerList(t.Context(), client.ContainerListOptions{Filters: client.Filters{}.Add("id", id)})
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("listing container %s: %d found, %v", id, len(res.Items), err)
	}
	return res.Items[0].Labels["com.docker.compose.project.working_dir"]
}

// sameInImage checks that the serving Redmine holds the site's theme id as it is in the site.
func sameInImage(t *testing.T, api client.APIClient, siteDir, id string) {
	t.Helper()
	const css = "stylesheets/application.css"
	want, err := os.ReadFile(filepath.Join(siteDir, "themes", id, css))
	if err != nil {
		t.Fatal(err)
	}
	if got := fileInContainer(t, api, activeRedmine(t, api), "/usr/src/redmine/themes/"+id+"/"+css); !bytes.Equal(got, want) {
		t.Errorf("themes/%s/%s in the running Redmine differs from the site's", id, css)
	}
}
