package basebuild

import "syscall"

// childAttr makes the kernel stop mmdebstrap when stackctl dies (killed, or
// its terminal gone): a build left running would keep downloading and
// unpacking a root nobody imports.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
