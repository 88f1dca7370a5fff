// Package stack is stackctl's domain: the catalogue of stacks and the base images
// they are built on, the choice and recording of a base profile, the typed compose
// models, and the engine operations that build, start and inspect a stack through
// the Compose SDK. The CLI in cmd/stackctl only parses flags and calls in here.
package stack
