package catalog

import (
	_ "embed"
	"path"
	"slices"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
)

//go:embed bases/nginx.sh
var nginxCustomize string

// nginxBase is Alpine plus its nginx package upstream, and trixie's nginx laid out
// the Alpine way on the debian side. The upstream tag is pinned to a minor line so
// security fixes arrive with a rebuild; it cannot be pulled on the development
// machines, so that path is checked only statically.
var nginxBase = Base{
	Name:     "nginx",
	Var:      "STACKCTL_NGINX_BASE",
	Upstream: "alpine:3.22",
	Recipe: Recipe{
		Suite: "trixie",
		// essential + the packages we need: the image never runs apt, so apt stays out.
		// busybox supplies wget as Alpine does, without GNU wget's 8 MB TLS stack.
		Variant:  "essential",
		Packages: []string{"nginx", "busybox"},
		// nginx converts no character sets: glibc's 8 MB of gconv modules go too.
		DpkgOpts:  append(slices.Clone(DocsExcluded), "path-exclude=/usr/lib/*/gconv/*"),
		Customize: nginxCustomize,
		Changes: []string{
			"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			`CMD ["/bin/sh"]`,
		},
	},
}

// nginxPort is the unprivileged port our nginx listens on inside the container.
const nginxPort = 8080

func nginxModel() *types.Project {
	return &types.Project{
		Name: "stackctl-nginx",
		Services: types.Services{
			"nginx": nginxService(),
		},
	}
}

// nginxService is our Alpine nginx: built from stacks/nginx, unprivileged,
// read-only, and the only service that publishes a port.
func nginxService() types.ServiceConfig {
	return types.ServiceConfig{
		Name:    "nginx",
		Restart: types.RestartPolicyUnlessStopped,
		WorkloadSpec: types.WorkloadSpec{
			Build: &types.BuildConfig{
				Context: path.Join("..", "nginx"),
				Args: types.MappingWithEquals{
					"NGINX_BASE": ptr(required(nginxBase.Var, "the nginx base image; stackctl sets it")),
				},
			},
			Ports: []types.ServicePortConfig{{
				HostIP:    "${" + varHTTPAddr + ":-127.0.0.1}",
				Target:    nginxPort,
				Published: "${" + varHTTPPort + ":-8080}",
				Protocol:  "tcp",
			}},
			HealthCheck: frontHealthCheck(nginxPort, "/healthz"),
		},
		ContainerSpec: types.ContainerSpec{
			Image: "stackctl/nginx:" + required(varNginxTag, "the tag of our nginx image, e.g. debian; stackctl sets it"),
			// Our images exist only where they are built: never try a registry for them.
			PullPolicy: types.PullPolicyBuild,
			ReadOnly:   true,
			// Room for the Redmine stack's asset cache (32 MiB) beside nginx's own files.
			Tmpfs:       types.StringList{"/tmp:size=48m,mode=1777"},
			CapDrop:     []string{"ALL"},
			SecurityOpt: []string{"no-new-privileges:true"},
			MemLimit:    types.UnitBytes(128 << 20),
			PidsLimit:   64,
			StopSignal:  "SIGQUIT",
		},
	}
}

// frontHealthCheck is nginx's health: its own master runs (its PID file, in
// its private /tmp, is written once its sockets listen) and the port answers
// a local HTTP path (wget: both base kinds carry it). The port alone would
// not do: in the Redmine stack both slots of nginx listen on it, and the old
// one would answer for a new one that failed.
func frontHealthCheck(port int, p string) *types.HealthCheckConfig {
	return &types.HealthCheckConfig{
		Test: types.HealthCheckTest{"CMD-SHELL",
			`kill -0 "$(cat /tmp/nginx.pid)" && wget -q --spider http://127.0.0.1:` + strconv.Itoa(port) + p},
		// start_interval would probe faster during start-up, but needs engine API 1.44;
		// a 5 s interval keeps 'up' quick on older engines and costs one wget.
		Interval:    duration(5e9),
		Timeout:     duration(3e9),
		Retries:     ptr(uint64(3)),
		StartPeriod: duration(60e9),
	}
}
