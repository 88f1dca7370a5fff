// Package e2e holds stackctl's end-to-end tests: they build the stackctl binary
// and drive it against the real Docker engine, real mmdebstrap and a real Debian
// mirror, checking results over real HTTP. They skip when no engine answers,
// unless STACKCTL_E2E=1 (as in CI), which turns every such skip into a failure.
package e2e
