// Package kernel builds a Linux kernel inside a container, from Debian's
// linux-source package (stacks/kernel), and copies the kernel image out to the
// host, where qemu can boot it: the answer, shown, to whether a kernel can be
// built in a container.
package kernel
