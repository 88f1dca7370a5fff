// Package hostport says whether this host can give an address to a container
// the engine publishes, and where /proc tells, which process holds it: up asks
// before it creates anything, so that a busy port is refused by name rather
// than by the engine's error after a container is made.
package hostport
