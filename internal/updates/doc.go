// Package updates finds the Debian packages an image holds that a suite's
// security or updates archive now offers a newer version of: it reads the
// image's dpkg status and the suites' signed indexes, and needs no engine.
// It informs what status reports and what update rebuilds; apt's own
// signature check at build time remains the check that matters for what
// gets installed.
package updates
