package swarm

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stackctl/stackctl/internal/catalog"
)

// A generation's volume names, set on the loaded file as a restore does,
// become the mounts' sources, labelled as the stack's, with the shared
// storage's options kept.
func TestGenerationVolumeNames(t *testing.T) {
	file, err := Render(mustStack(t), Options{FilesVolume: map[string]string{"type": "nfs", "device": ":/export/g2"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file, testEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	for key, v := range cfg.Volumes {
		v.Name = catalog.VolumeName("stackctl-redmine", key, 2)
		cfg.Volumes[key] = v
	}
	got := specs(t, cfg)
	want := map[string]string{"db": "stackctl-redmine_db-data-g2", "redmine": "stackctl-redmine_redmine-files-g2"}
	for svc, source := range want {
		mounts := got[svc].TaskTemplate.ContainerSpec.Mounts
		if len(mounts) == 0 || mounts[0].Source != source {
			t.Fatalf("%s mounts %+v, want source %s", svc, mounts, source)
		}
		if mounts[0].VolumeOptions == nil || mounts[0].VolumeOptions.Labels["com.docker.stack.namespace"] != "stackctl-redmine" {
			t.Errorf("%s: volume options %+v, want the stack's label", svc, mounts[0].VolumeOptions)
		}
	}
	files := got["redmine"].TaskTemplate.ContainerSpec.Mounts[0].VolumeOptions.DriverConfig
	if files == nil || files.Options["device"] != ":/export/g2" {
		t.Errorf("files volume driver %+v, want the shared storage's options", files)
	}
}

// The secrets and configs of a service run on one node are files where its
// tasks find them, owned and moded as the stack file says.
func TestTaskFiles(t *testing.T) {
	file, err := os.ReadFile(filepath.Join(checkout, "stacks", "redmine", FileName))
	if err != nil {
		t.Fatal(err)
	}
	env := testEnv(t)
	cfg, err := Load(file, env)
	if err != nil {
		t.Fatal(err)
	}
	dep := Deployment{Namespace: "stackctl-redmine", Config: cfg,
		Secrets: map[string][]byte{env[SecretVar("db_password")]: []byte("s3cret\n")},
		Configs: map[string][]byte{env[ConfigVar("db-app-role")]: []byte("-- role\n"), env[ConfigVar("db-start")]: []byte("#!/bin/bash\n")}}
	svc, ok := serviceConfig(cfg, "db")
	if !ok {
		t.Fatal("no db service")
	}
	b, err := taskFiles(dep, svc)
	if err != nil {
		t.Fatal(err)
	}
	type taskFile struct {
		uid, gid int
		mode     int64
		content  string
	}
	got := map[string]taskFile{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		content, _ := io.ReadAll(tr)
		got[h.Name] = taskFile{h.Uid, h.Gid, h.Mode, string(content)}
	}
	want := map[string]taskFile{
		"run/secrets/db_password":                          {999, 999, 0o400, "s3cret\n"},
		"docker-entrypoint-initdb.d/stackctl-app-role.sql": {0, 0, 0o444, "-- role\n"},
		"usr/local/share/stackctl/db-start.sh":             {0, 0, 0o444, "#!/bin/bash\n"},
	}
	if len(got) != len(want) {
		t.Errorf("files %v, want %v", got, want)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %+v, want %+v", name, got[name], w)
		}
	}
	// A secret or config whose content is missing is an error, not an empty file.
	dep.Secrets = map[string][]byte{}
	if _, err := taskFiles(dep, svc); err == nil {
		t.Error("a secret without content gave no error")
	}
}

func TestLocalName(t *testing.T) {
	if got := LocalName("stackctl-redmine", "db", 3); got != "stackctl-redmine_db-g3-restore" {
		t.Errorf("LocalName: %q", got)
	}
}

func mustStack(t *testing.T) catalog.Stack {
	t.Helper()
	st, err := catalog.LookupStack("redmine")
	if err != nil {
		t.Fatal(err)
	}
	return st
}
