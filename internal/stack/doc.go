// Package stack runs the catalogue's stacks through the Compose SDK, in-process:
// the one start-up sequence (profile, bases, secrets, build, create, start, wait
// for health, first start) that up and restore share, and down, ps, logs and
// config. It builds the stacks from a BuildDir (internal/site says which) and
// records what it did in the state directory.
package stack
