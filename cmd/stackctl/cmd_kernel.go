package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/basebuild"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/kernel"
	"github.com/stackctl/stackctl/internal/stack"
)

type kernelBuildOptions struct {
	out     string
	profile string
	mirror  string
}

func (o *kernelBuildOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.out, "out", ".", "directory the kernel image (bzImage) is written to")
	profileFlag(fs, &o.profile, envProfile(), profileUsage)
	mirrorFlag(fs, &o.mirror)
}

func newKernelCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Annotations: map[string]string{annotSiteFree: ""},
		Use:         "kernel",
		Short:       "Build a Linux kernel inside a container (the answer to 'can a kernel be built in a container?')",
		Args:        cobra.NoArgs,
	}
	cmd.AddCommand(newKernelBuildCommand(g))
	return cmd
}

func newKernelBuildCommand(g *globalOptions) *cobra.Command {
	o := &kernelBuildOptions{}
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build a small Linux kernel from Debian's linux-source in a container and copy it out",
		Long: `Build a small Linux kernel (tinyconfig, a serial console and an initramfs whose
init prints a line and reboots) inside a container, from Debian's linux-source
package, with stacks/kernel/Dockerfile; then copy the kernel image out to --out.
The container needs a compiler and the sources, not the host's kernel. Boot the
result in a machine, not on the host:

  qemu-system-x86_64 -kernel bzImage -nographic -no-reboot -append "console=ttyS0 panic=-1"

See docs/kernel-in-container.md.`,
		Example: `  stackctl kernel build --out /tmp/kernel
  stackctl kernel build --profile debian --mirror http://deb.debian.org/debian`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKernelBuild(cmd.Context(), g, o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runKernelBuild(ctx context.Context, g *globalOptions, o *kernelBuildOptions) error {
	profile, err := catalog.ParseProfile(o.profile)
	if err != nil {
		return err
	}
	root, err := g.buildDir()
	if err != nil {
		return err
	}
	d, err := g.connect(ctx)
	if err != nil {
		return err
	}
	base, err := catalog.LookupBase("debian")
	if err != nil {
		return err
	}
	choice, err := stack.ChooseBaseProfile(ctx, base, profile, d.Engine)
	if err != nil {
		return err
	}
	g.rep.Printf("kernel: base %s (%s)", choice.Profile, choice.Reason)
	if choice.Profile == catalog.ProfileDebian {
		bb := basebuild.Builder{Engine: d.Engine, Mirror: o.mirror, Report: g.rep}
		if _, err := bb.Ensure(ctx, base); err != nil {
			return err
		}
	}
	// The host's memory only decides where the sources go: without it, on disk.
	host, err := d.Engine.Host(ctx)
	if err != nil {
		g.rep.Warnf("kernel: the sources are built on disk: %v", err)
	}
	opts := kernel.Options{Base: base.Ref(choice.Profile), Out: o.out, HostMemory: host.Memory}
	opts.Progress, opts.TTY, opts.FD = g.toolOutput()
	res, err := kernel.Build(ctx, d.Engine, filepath.Join(string(root), "stacks", "kernel"), kernel.Image(choice.Profile), opts)
	if err != nil {
		return err
	}
	g.rep.Printf("kernel: built in %s, %s (%s)", res.Elapsed.Round(1e9), res.Image, units.HumanSize(float64(res.Size)))
	fmt.Fprintln(g.stdout, res.Path)
	return nil
}
