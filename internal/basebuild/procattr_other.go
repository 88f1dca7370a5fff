//go:build !linux

package basebuild

import "syscall"

// childAttr is nil where the kernel has no parent-death signal; mmdebstrap
// runs on Linux only.
func childAttr() *syscall.SysProcAttr { return nil }
