package swarm

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/cli/cli/compose/convert"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Job is a one-off command run on the swarm as a task of a stack's service
// would run: its image, environment, secrets and networks, without its
// volumes, placement, health check or published ports.
type Job struct {
	Namespace string
	// Like is the stack's service (as the stack file names it) whose task
	// the job runs as.
	Like string
	// Name names the job's service, <namespace>_<name>.
	Name    string
	Command []string
	// Stdin is a secret mounted for the job alone at /run/secrets/<Source>,
	// for a command that reads it as its standard input.
	Stdin JobSecret
	// Timeout bounds the job (0: ten minutes).
	Timeout time.Duration
}

// JobSecret is a secret created for a job and removed with it.
type JobSecret struct {
	Source, Name string
	Content      []byte
}

// RunJob runs j to its end and returns what it printed; a failed job is an
// error with the end of its output. The job's service and secret are removed
// either way.
func (d Deployer) RunJob(ctx context.Context, j Job) (string, error) {
	ns := convert.NewNamespace(j.Namespace)
	svcs, err := d.services(ctx, j.Namespace)
	if err != nil {
		return "", err
	}
	like, ok := svcs[ns.Scope(j.Like)]
	if !ok {
		return "", fmt.Errorf("the swarm has no service %s for job %s to run as", ns.Scope(j.Like), j.Name)
	}
	name := ns.Scope(j.Name)
	if old, ok := svcs[name]; ok {
		// Left by a stopped stackctl: a job runs once per call.
		if _, err := d.API.ServiceRemove(ctx, old.ID, client.ServiceRemoveOptions{}); err != nil {
			return "", fmt.Errorf("removing job %s left by an earlier run: %w", name, err)
		}
	}
	secName := j.Stdin.Name + "_job"
	left, err := d.API.SecretList(ctx, client.SecretListOptions{Filters: make(client.Filters).Add("name", secName)})
	if err != nil {
		return "", fmt.Errorf("listing the swarm's secrets: %w", err)
	}
	for _, s := range left.Items {
		if s.Spec.Name == secName {
			if _, err := d.API.SecretRemove(ctx, s.ID, client.SecretRemoveOptions{}); err != nil {
				return "", fmt.Errorf("removing secret %s left by an earlier run: %w", secName, err)
			}
		}
	}
	sec, err := d.API.SecretCreate(ctx, client.SecretCreateOptions{Spec: swarm.SecretSpec{
		Annotations: swarm.Annotations{Name: secName, Labels: map[string]string{convert.LabelNamespace: j.Namespace, kindLabel: "job"}},
		Data:        j.Stdin.Content,
	}})
	if err != nil {
		return "", fmt.Errorf("creating job %s's secret: %w", name, err)
	}
	defer d.API.SecretRemove(context.WithoutCancel(ctx), sec.ID, client.SecretRemoveOptions{})

	spec := like.Spec
	spec.Annotations = swarm.Annotations{Name: name, Labels: map[string]string{convert.LabelNamespace: j.Namespace, kindLabel: "job"}}
	spec.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{}}
	// Reached by no name: the job must not answer for the service it runs
	// as (the converter gives each attachment the service's short name as
	// an alias) nor get a virtual IP, which needs IPVS.
	spec.UpdateConfig, spec.RollbackConfig = nil, nil
	spec.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR}
	nets := make([]swarm.NetworkAttachmentConfig, len(like.Spec.TaskTemplate.Networks))
	for i, n := range like.Spec.TaskTemplate.Networks {
		n.Aliases = nil
		nets[i] = n
	}
	spec.TaskTemplate.Networks = nets
	cs := *like.Spec.TaskTemplate.ContainerSpec
	cs.Command, cs.Args = j.Command, nil
	cs.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
	cs.Mounts = nil
	cs.Secrets = append(cs.Secrets[:len(cs.Secrets):len(cs.Secrets)], &swarm.SecretReference{
		SecretID: sec.ID, SecretName: secName,
		File: &swarm.SecretReferenceFileTarget{Name: j.Stdin.Source, UID: "0", GID: "0", Mode: 0o400},
	})
	spec.TaskTemplate.ContainerSpec = &cs
	spec.TaskTemplate.Placement = nil
	spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}
	created, err := d.API.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec})
	if err != nil {
		return "", fmt.Errorf("creating job %s: %w", name, err)
	}
	defer d.API.ServiceRemove(context.WithoutCancel(ctx), created.ID, client.ServiceRemoveOptions{})

	timeout := j.Timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	state, taskErr, err := d.waitJob(ctx, created.ID, timeout)
	if err != nil {
		return "", fmt.Errorf("job %s: %w", name, err)
	}
	out := d.jobLogs(ctx, created.ID)
	if state != swarm.TaskStateComplete {
		return out, fmt.Errorf("job %s ended %s (%s); its last lines:\n%s", name, state, taskErr, tail(out, 20))
	}
	return out, nil
}

// waitJob waits for the job's one task to end.
func (d Deployer) waitJob(ctx context.Context, service string, timeout time.Duration) (swarm.TaskState, string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		tasks, err := d.API.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", service)})
		if err != nil {
			return "", "", err
		}
		for _, t := range tasks.Items {
			switch t.Status.State {
			case swarm.TaskStateComplete, swarm.TaskStateFailed, swarm.TaskStateRejected, swarm.TaskStateShutdown:
				return t.Status.State, t.Status.Err, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return "", "", fmt.Errorf("still running after %s", timeout)
}

// jobLogs is what the job printed, stdout and stderr interleaved; "" when
// the logs cannot be read.
func (d Deployer) jobLogs(ctx context.Context, service string) string {
	rc, err := d.API.ServiceLogs(ctx, service, client.ServiceLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, rc)
	return out.String()
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
