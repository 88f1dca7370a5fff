package e2e

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/basebuild"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/report"
)

//go:embed testdata/swarm-node.sh
var swarmNodeScript string

// swarmNodeBase is a Docker engine node for the swarm tests: Debian's docker.io
// built by stackctl's own base builder, since nothing can be pulled here. It is
// test data, not in the catalog, so 'stackctl base build all' never builds it.
var swarmNodeBase = catalog.Base{
	Name: "e2e-swarm-node",
	Recipe: catalog.Recipe{
		Suite:   "trixie",
		Variant: "essential",
		// dockerd's own dependencies (containerd, runc, tini, iptables) come with docker.io;
		// socat forwards the registry, mount probes overlayfs, the rest is for a person debugging.
		Packages: []string{"docker.io", "iptables", "iproute2", "ca-certificates", "socat", "procps", "mount"},
		// The same exclusions as the catalog's recipes: nothing in a node reads docs.
		DpkgOpts: catalog.DocsExcluded,
		Files:    map[string]string{"/usr/local/bin/swarm-node": swarmNodeScript},
		Changes: []string{
			"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			// tini reaps what dockerd's children leave behind.
			`ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/swarm-node"]`,
		},
	},
}

// swarmNodeImage builds the node image unless the engine has it from the same recipe.
func swarmNodeImage(t *testing.T, api client.APIClient) string {
	t.Helper()
	mirror := os.Getenv("STACKCTL_DEBIAN_MIRROR")
	bb := basebuild.Builder{Engine: &engine.Engine{API: api}, Mirror: mirror, Report: report.New(t.Output(), report.Options{})}
	res, err := bb.Ensure(context.Background(), swarmNodeBase)
	if err != nil {
		t.Fatalf("building the swarm node image: %v", err)
	}
	if res.Built {
		t.Logf("node image %s built in %s (%d MB)", res.Ref, res.Elapsed.Round(1e9), res.Size>>20)
	} else {
		t.Logf("node image %s is up to date", res.Ref)
	}
	return res.Ref
}

// TestSwarmNodes proves the swarm harness: three engines built from Debian's
// docker.io join a swarm; an image pushed by the host engine runs there by
// digest, spread over the workers, answering a client on another node across
// the overlay network by service name; a worker lost abruptly has its task
// run again elsewhere. It logs the figures the note asks for.
func TestSwarmNodes(t *testing.T) {
	shares(t, &swarmHarness)
	host := dockerAPI(t)
	ctx := context.Background()
	image := swarmNodeImage(t, host)
	src := waitForImage(t, host, "stackctl/base-nginx:trixie", 20*time.Minute)

	c := startSwarm(t, host, image)
	t.Logf("swarm of %d nodes ready in %s", len(c.Nodes), c.Started.Round(100*time.Millisecond))
	mgr := c.Manager()
	ref := c.Push(t, src, "e2e/nginx")

	start := time.Now()
	pull, err := mgr.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err == nil {
		err = pull.Wait(ctx)
	}
	if err != nil {
		t.Fatalf("pulling %s on %s: %v\n%s", ref, c.Nodes[0].Name, err, c.logs(t, c.Nodes[0]))
	}
	t.Logf("%s pulled %s in %s", c.Nodes[0].Name, ref, time.Since(start).Round(100*time.Millisecond))

	const overlay = swarmPrefix + "-overlay"
	if _, err := mgr.NetworkCreate(ctx, overlay, client.NetworkCreateOptions{Driver: "overlay", Attachable: true}); err != nil {
		t.Fatal(err)
	}
	// The client first, on the manager, so the workers are left to the servers.
	createService(t, mgr, serviceSpec("client", ref, overlay, 1, "node.role==manager", "", "sleep", "infinity"))
	start = time.Now()
	// Each server answers with the hostname of the node it runs on.
	serve := []string{"sh", "-c", "mkdir -p /tmp/www && hostname >/tmp/www/index.html && exec busybox httpd -f -p 8080 -h /tmp/www"}
	createService(t, mgr, serviceSpec("web", ref, overlay, 2, "node.role==worker", swarm.ResolutionModeVIP, serve...))
	createService(t, mgr, serviceSpec("web-rr", ref, overlay, 2, "node.role==worker", swarm.ResolutionModeDNSRR, serve...))
	for _, s := range []string{"web", "web-rr", "client"} {
		waitTasks(t, c, s, 0, 5*time.Minute)
	}
	t.Logf("web and web-rr: 2 replicas each running on the workers (pulled there and started) %s after create", time.Since(start).Round(100*time.Millisecond))
	for _, s := range []string{"web", "web-rr"} {
		if nodes := taskNodes(t, c, s); len(nodes) != 2 || nodes[0] == nodes[1] {
			t.Fatalf("%s's replicas run on %v, want one on each worker", s, nodes)
		}
	}

	cli := serviceContainer(t, c.Nodes[0], "client")
	// Each address the name resolves to, asked directly: glibc's resolver
	// sorts the addresses a name has by their prefix in common with the
	// client's (RFC 6724), so a client asking by name meets the same replica
	// every time, whatever order Docker's DNS gives (nginx's own resolver
	// takes them in turn). A replica on another node enters the manager's DNS
	// when the overlay's gossip brings it, seconds after its task runs: the
	// addresses are asked for until want of them come, for 30 s.
	reach := func(name string, want int) (hosts map[string]int, failed int, addrs []string) {
		hosts = map[string]int{}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
			out, code, err := execOut(ctx, mgr, cli, "getent", "ahostsv4", name)
			addrs = nil
			if err == nil && code == 0 {
				for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
					if f := strings.Fields(line); len(f) > 0 && !slices.Contains(addrs, f[0]) {
						addrs = append(addrs, f[0])
					}
				}
			}
			if len(addrs) == want || time.Now().After(deadline) {
				break
			}
		}
		for _, a := range addrs {
			out, code, err := execOut(ctx, mgr, cli, "wget", "-q", "-T", "3", "-O-", "http://"+a+":8080/")
			if err != nil || code != 0 {
				failed++
				continue
			}
			hosts[strings.TrimSpace(out)]++
		}
		return hosts, failed, addrs
	}
	hostsRR, failedRR, addrsRR := reach("web-rr", 2)
	t.Logf("dnsrr across nodes: web-rr is %v, which reached %v, %d failed", addrsRR, hostsRR, failedRR)
	if len(hostsRR) != 2 || failedRR > 0 {
		t.Errorf("dnsrr service by name from the manager: reached %v with %d failures, want both workers' replicas and no failure", hostsRR, failedRR)
	}
	hostsTasks, failedTasks, _ := reach("tasks.web", 2)
	t.Logf("tasks.web (DNS, no VIP) across nodes: reached %v, %d failed", hostsTasks, failedTasks)
	// The VIP by name, as a client would ask.
	vip := func() (hosts map[string]int, failed int) {
		hosts = map[string]int{}
		for range 4 {
			out, code, err := execOut(ctx, mgr, cli, "wget", "-q", "-T", "3", "-O-", "http://web:8080/")
			if err != nil || code != 0 {
				failed++
				continue
			}
			hosts[strings.TrimSpace(out)]++
		}
		return hosts, failed
	}
	hostsVIP, failedVIP := vip()
	t.Logf("VIP across nodes: reached %v, %d of 4 failed", hostsVIP, failedVIP)
	if failedVIP > 0 {
		// dockerd logs why: "Could not get ipvs family information from the kernel".
		t.Logf("the VIP does not answer: this kernel has no IPVS, so Swarm stacks here need endpoint_mode: dnsrr")
	}
	logMemory(t, c, "with 5 tasks running")

	// A worker lost: its container killed as a machine would die.
	lost := taskNodes(t, c, "web")[1]
	i := slices.IndexFunc(c.Nodes, func(n *swarmNode) bool { return n.Name == lost })
	start = time.Now()
	c.Kill(t, i)
	waitTasks(t, c, "web", i, 5*time.Minute)
	t.Logf("web's task on %s running again on %v %s after the kill", lost, taskNodes(t, c, "web"), time.Since(start).Round(100*time.Millisecond))
	waitTasks(t, c, "web-rr", i, 5*time.Minute)
	if hosts, failed, addrs := reach("web-rr", 1); failed > 0 || len(hosts) != 1 {
		t.Errorf("after losing %s, web-rr is %v, which reached %v with %d failures, want the other worker only", lost, addrs, hosts, failed)
	}

	start = time.Now()
	c.Start(t, i)
	c.waitReady(t, len(c.Nodes), 2*time.Minute)
	t.Logf("%s back and ready %s after its start", lost, time.Since(start).Round(100*time.Millisecond))
	logMemory(t, c, "at the end")
}

// waitForImage waits for ref on the host engine: another session may be building the bases now.
func waitForImage(t *testing.T, host client.APIClient, ref string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := host.ImageInspect(context.Background(), ref); err == nil {
			return ref
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not on the engine after %s: build it with 'stackctl base build nginx'", ref, timeout)
		}
		time.Sleep(5 * time.Second)
	}
}

// serviceSpec is a service of image on network with replicas where constraint
// holds, reached as mode says (VIP or DNS round robin), running cmd.
func serviceSpec(name, image, network string, replicas uint64, constraint string, mode swarm.ResolutionMode, cmd ...string) swarm.ServiceSpec {
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name},
		TaskTemplate: swarm.TaskSpec{
			// The node's hostname, so an answer says where it came from.
			ContainerSpec: &swarm.ContainerSpec{Image: image, Command: cmd, Hostname: "{{.Node.Hostname}}"},
			// Spread: two replicas on two workers run one on each (a
			// preference, so a lost worker's task still moves to the other).
			Placement: &swarm.Placement{Constraints: []string{constraint},
				Preferences: []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.id"}}}},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: network}},
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny},
		},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		EndpointSpec: &swarm.EndpointSpec{Mode: mode},
	}
}

func createService(t *testing.T, mgr client.APIClient, spec swarm.ServiceSpec) {
	t.Helper()
	if _, err := mgr.ServiceCreate(context.Background(), client.ServiceCreateOptions{Spec: spec}); err != nil {
		t.Fatalf("creating service %s: %v", spec.Name, err)
	}
}

// runningTasks are service's tasks that should run and do.
func runningTasks(t *testing.T, c *swarmCluster, service string) []swarm.Task {
	t.Helper()
	res, err := c.Manager().TaskList(context.Background(), client.TaskListOptions{
		Filters: client.Filters{}.Add("service", service).Add("desired-state", "running"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(res.Items, func(tk swarm.Task) bool { return tk.Status.State != swarm.TaskStateRunning })
}

// taskNodes are the hostnames of the nodes service's running tasks are on, sorted.
func taskNodes(t *testing.T, c *swarmCluster, service string) []string {
	t.Helper()
	var out []string
	for _, tk := range runningTasks(t, c, service) {
		n, err := c.Manager().NodeInspect(context.Background(), tk.NodeID, client.NodeInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n.Node.Description.Hostname)
	}
	slices.Sort(out)
	return out
}

// waitTasks waits until all of service's replicas run, none on node avoid
// (0, the manager, means any node will do).
func waitTasks(t *testing.T, c *swarmCluster, service string, avoid int, timeout time.Duration) {
	t.Helper()
	res, err := c.Manager().ServiceInspect(context.Background(), service, client.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := int(*res.Service.Spec.Mode.Replicated.Replicas)
	deadline := time.Now().Add(timeout)
	for {
		nodes := taskNodes(t, c, service)
		if len(nodes) == want && (avoid == 0 || !slices.Contains(nodes, c.Nodes[avoid].Name)) {
			return
		}
		all, err := c.Manager().TaskList(context.Background(), client.TaskListOptions{Filters: client.Filters{}.Add("service", service)})
		if err != nil {
			t.Fatal(err)
		}
		var failed []string
		for _, tk := range all.Items {
			if tk.Status.State == swarm.TaskStateRejected || tk.Status.State == swarm.TaskStateFailed {
				failed = append(failed, fmt.Sprintf("%s: %s", tk.Status.State, tk.Status.Err))
			}
		}
		// Swarm retries a task that fails for ever; a few failures say enough.
		if len(failed) >= 4 || time.Now().After(deadline) {
			t.Fatalf("service %s: running on %v, want %d replicas; failed tasks: %v", service, nodes, want, failed)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// serviceContainer is the ID of service's one container on node n.
func serviceContainer(t *testing.T, n *swarmNode, service string) string {
	t.Helper()
	res, err := n.API.ContainerList(context.Background(), client.ContainerListOptions{
		Filters: client.Filters{}.Add("label", "com.docker.swarm.service.name="+service),
	})
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("containers of %s on %s: %v, %d", service, n.Name, err, len(res.Items))
	}
	return res.Items[0].ID
}

func logMemory(t *testing.T, c *swarmCluster, when string) {
	t.Helper()
	var parts []string
	for i, m := range c.Memory(t) {
		// The engine's own processes apart from the tasks it runs.
		engine := "?"
		out, code, err := execOut(context.Background(), c.host, c.Nodes[i].Container, "ps", "-o", "rss=", "-C", "dockerd,containerd")
		if err == nil && code == 0 {
			var kib int
			for _, f := range strings.Fields(out) {
				n, _ := strconv.Atoi(f)
				kib += n
			}
			engine = strconv.Itoa(kib>>10) + " MiB"
		}
		parts = append(parts, fmt.Sprintf("%s %d MiB (dockerd and containerd %s)", c.Nodes[i].Name, m>>20, engine))
	}
	t.Logf("FIGURE memory of the engine containers %s: %s", when, strings.Join(parts, ", "))
}

// Everything the swarm harness makes on the host engine carries this prefix and
// label, so a killed run's leftovers are found and removed by the next.
const (
	swarmPrefix   = "stackctl-e2e-swarm"
	swarmLabel    = "io.stackctl.e2e"
	swarmLabelVal = "swarm-nodes"
	swarmAPIPort  = 2375
)

// swarmNode is one engine of the test swarm: a container on the host engine.
type swarmNode struct {
	// Name is the container's, its volume's and the swarm node's hostname.
	Name      string
	Container string
	// Addr is the node's fixed address on the private network; its engine
	// answers at tcp://Addr:2375 from the host.
	Addr netip.Addr
	API  *client.Client
	// Driver is the storage driver dockerd chose on the node's volume.
	Driver string
}

// swarmShared is where every node mounts the cluster's shared directory.
const swarmShared = "/srv/stackctl-shared"

// swarmCluster is a manager and two workers joined into one swarm, on a
// private bridge network of the host engine, pulling from Registry.
type swarmCluster struct {
	host    client.APIClient
	Nodes   []*swarmNode // Nodes[0] is the manager
	Network string
	Gateway netip.Addr
	// Registry is 127.0.0.1:PORT, the same reference on the host and in every node.
	Registry string
	// Started is how long startSwarm took from nothing to three ready nodes.
	Started time.Duration
	// SharedHost is a directory of the host every node mounts at Shared:
	// storage all nodes share, as NFS would be on real machines.
	SharedHost, Shared string
}

// Manager is the client of the swarm's manager engine.
func (c *swarmCluster) Manager() *client.Client { return c.Nodes[0].API }

// startSwarm starts three engines from image and joins them into a swarm; all
// of it is removed when the test ends.
func startSwarm(t *testing.T, host client.APIClient, image string) *swarmCluster {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	removeSwarmLeftovers(t, host)
	t.Cleanup(func() { removeSwarmLeftovers(t, host) })
	labels := map[string]string{swarmLabel: swarmLabelVal}
	shared := t.TempDir()

	// A restarted node must keep its address (the swarm knows it by it), and
	// fixed addresses need a subnet given at creation: take the one the engine
	// picks as free, then create the network again with it.
	c := &swarmCluster{host: host, Network: swarmPrefix + "-net", SharedHost: shared, Shared: swarmShared}
	probe, err := host.NetworkCreate(ctx, c.Network, client.NetworkCreateOptions{Driver: "bridge", Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	ins, err := host.NetworkInspect(ctx, probe.ID, client.NetworkInspectOptions{})
	if err != nil || len(ins.Network.IPAM.Config) == 0 {
		t.Fatalf("inspecting network %s: %v %+v", c.Network, err, ins.Network.IPAM)
	}
	subnet := ins.Network.IPAM.Config[0].Subnet
	if _, err := host.NetworkRemove(ctx, probe.ID, client.NetworkRemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Gateway = subnet.Addr().Next()
	if _, err := host.NetworkCreate(ctx, c.Network, client.NetworkCreateOptions{
		Driver: "bridge", Labels: labels,
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet, Gateway: c.Gateway}}},
	}); err != nil {
		t.Fatal(err)
	}

	// The host engine pushes to 127.0.0.1:PORT (loopback, so plain HTTP is
	// allowed without touching its configuration); each node forwards its own
	// 127.0.0.1:PORT to the gateway, where the registry listens too, so the
	// nodes pull the very reference the host pushed, as a loopback registry.
	c.Registry = serveRegistryAlso(t, nil, c.Gateway)
	_, port, _ := net.SplitHostPort(c.Registry)

	addr := c.Gateway
	for i := range 3 {
		addr = addr.Next()
		n := &swarmNode{Name: fmt.Sprintf("%s-node%d", swarmPrefix, i+1), Addr: addr}
		c.Nodes = append(c.Nodes, n)
		if _, err := host.VolumeCreate(ctx, client.VolumeCreateOptions{Name: n.Name, Labels: labels}); err != nil {
			t.Fatal(err)
		}
		created, err := host.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name: n.Name,
			Config: &container.Config{
				Image: image, Hostname: n.Name, Labels: labels,
				Env: []string{"REGISTRY_UPSTREAM=" + net.JoinHostPort(c.Gateway.String(), port)},
			},
			HostConfig: swarmNodeHostConfig(n.Name, shared),
			NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
				c.Network: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: addr}},
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		n.Container = created.ID
		if _, err := host.ContainerStart(ctx, n.Container, client.ContainerStartOptions{}); err != nil {
			t.Fatal(err)
		}
		n.API, err = client.New(client.WithHost(fmt.Sprintf("tcp://%s", netip.AddrPortFrom(addr, swarmAPIPort))))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.API.Close() })
	}
	for _, n := range c.Nodes {
		c.waitEngine(t, n)
		info, err := n.API.Info(ctx, client.InfoOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Driver = info.Info.Driver
		t.Logf("%s: Docker %s at %s, storage driver %s", n.Name, info.Info.ServerVersion, n.Addr, n.Driver)
	}

	mgr := c.Nodes[0]
	if _, err := mgr.API.SwarmInit(ctx, client.SwarmInitOptions{
		ListenAddr: "0.0.0.0:2377", AdvertiseAddr: mgr.Addr.String(),
	}); err != nil {
		t.Fatalf("swarm init on %s: %v", mgr.Name, err)
	}
	sw, err := mgr.API.SwarmInspect(ctx, client.SwarmInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes[1:] {
		if _, err := n.API.SwarmJoin(ctx, client.SwarmJoinOptions{
			ListenAddr: "0.0.0.0:2377", AdvertiseAddr: n.Addr.String(),
			RemoteAddrs: []string{netip.AddrPortFrom(mgr.Addr, 2377).String()},
			JoinToken:   sw.Swarm.JoinTokens.Worker,
		}); err != nil {
			t.Fatalf("swarm join of %s: %v", n.Name, err)
		}
	}
	c.waitReady(t, len(c.Nodes), 2*time.Minute)
	c.Started = time.Since(start)
	return c
}

// swarmNodeHostConfig is what a node's dockerd needs of the host engine: every
// capability but CAP_SYS_RESOURCE (--privileged fails here for want of it),
// no seccomp or AppArmor profile (it mounts, makes namespaces and bridges),
// cgroups writable for its tasks, its own storage, and a /run that starts empty
// like a rebooted machine's (a killed node's pid files would stop dockerd).
func swarmNodeHostConfig(volume, shared string) *container.HostConfig {
	return &container.HostConfig{
		Tmpfs:       map[string]string{"/run": "rw,exec,nosuid,nodev,mode=0755"},
		CapAdd:      []string{"ALL"},
		CapDrop:     []string{"SYS_RESOURCE"},
		SecurityOpt: []string{"seccomp=unconfined", "apparmor=unconfined"},
		Mounts: []mount.Mount{
			{Type: mount.TypeVolume, Source: volume, Target: "/var/lib/docker"},
			{Type: mount.TypeBind, Source: "/sys/fs/cgroup", Target: "/sys/fs/cgroup"},
			{Type: mount.TypeBind, Source: shared, Target: swarmShared},
		},
	}
}

// waitEngine waits until n's engine answers, failing with its logs if it does not.
func (c *swarmCluster) waitEngine(t *testing.T, n *swarmNode) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := n.API.Ping(ctx, client.PingOptions{})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the engine of %s does not answer at %s: %v\n%s", n.Name, n.Addr, err, c.logs(t, n))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitReady waits until the manager sees want nodes ready.
func (c *swarmCluster) waitReady(t *testing.T, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		res, err := c.Manager().NodeList(context.Background(), client.NodeListOptions{})
		ready := 0
		for _, n := range res.Items {
			if n.Status.State == swarm.NodeStateReady {
				ready++
			}
		}
		if err == nil && ready == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d swarm nodes ready after %s (%v)", ready, want, timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Kill stops node i abruptly, as a lost machine would (docker kill).
func (c *swarmCluster) Kill(t *testing.T, i int) {
	t.Helper()
	if _, err := c.host.ContainerKill(context.Background(), c.Nodes[i].Container, client.ContainerKillOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Start starts node i's container again and waits until its engine answers.
func (c *swarmCluster) Start(t *testing.T, i int) {
	t.Helper()
	if _, err := c.host.ContainerStart(context.Background(), c.Nodes[i].Container, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	c.waitEngine(t, c.Nodes[i])
}

// Memory is the memory each node's container uses now, as docker stats counts
// it (page cache left out); it includes the node's tasks, whose cgroups the
// node script puts under its own.
func (c *swarmCluster) Memory(t *testing.T) []uint64 {
	t.Helper()
	out := make([]uint64, len(c.Nodes))
	for i, n := range c.Nodes {
		res, err := c.host.ContainerStats(context.Background(), n.Container, client.ContainerStatsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var s container.StatsResponse
		err = json.NewDecoder(res.Body).Decode(&s)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		m := s.MemoryStats
		out[i] = m.Usage
		for _, k := range []string{"total_inactive_file", "inactive_file"} {
			if v, ok := m.Stats[k]; ok && v < m.Usage {
				out[i] = m.Usage - v
				break
			}
		}
	}
	return out
}

// Push tags the host engine's image src as repo in the registry, pushes it and
// returns the digest reference the nodes pull.
func (c *swarmCluster) Push(t *testing.T, src, repo string) string {
	t.Helper()
	ctx := context.Background()
	ref := c.Registry + "/" + repo + ":e2e"
	if _, err := c.host.ImageTag(ctx, client.ImageTagOptions{Source: src, Target: ref}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.host.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{}) })
	// An empty auth object: engine 20.10 rejects a push without the header.
	res, err := c.host.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: base64.URLEncoding.EncodeToString([]byte("{}"))})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Wait(ctx); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	info, err := c.host.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range info.RepoDigests {
		if strings.HasPrefix(d, c.Registry+"/"+repo+"@sha256:") {
			return d
		}
	}
	t.Fatalf("%s has no digest of %s after the push: %v", src, c.Registry, info.RepoDigests)
	return ""
}

// logs is the tail of node n's container log (its dockerd).
func (c *swarmCluster) logs(t *testing.T, n *swarmNode) string {
	t.Helper()
	res, err := c.host.ContainerLogs(context.Background(), n.Container, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "40"})
	if err != nil {
		return err.Error()
	}
	defer res.Close()
	var out bytes.Buffer
	stdcopy.StdCopy(&out, &out, res)
	return out.String()
}

// removeSwarmLeftovers removes the harness's containers, volumes and network,
// found by label, whether this run or a killed one made them.
func removeSwarmLeftovers(t *testing.T, host client.APIClient) {
	t.Helper()
	ctx := context.Background()
	f := client.Filters{}.Add("label", swarmLabel+"="+swarmLabelVal)
	cs, err := host.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range cs.Items {
		if _, err := host.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
			t.Errorf("removing container %.12s: %v", ct.ID, err)
		}
	}
	vs, err := host.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs.Items {
		if _, err := host.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil {
			t.Errorf("removing volume %s: %v", v.Name, err)
		}
	}
	ns, err := host.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns.Items {
		if _, err := host.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
			t.Errorf("removing network %s: %v", n.Name, err)
		}
	}
}

// execOut runs cmd in container id of engine api and returns its output and exit code.
func execOut(ctx context.Context, api client.APIClient, id string, cmd ...string) (string, int, error) {
	created, err := api.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return "", 0, err
	}
	att, err := api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return "", 0, err
	}
	var out bytes.Buffer
	_, err = stdcopy.StdCopy(&out, &out, att.Reader)
	att.Close()
	if err != nil {
		return out.String(), 0, err
	}
	res, err := api.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	return out.String(), res.ExitCode, err
}
