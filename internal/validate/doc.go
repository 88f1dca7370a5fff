// Package validate checks compose files and the Dockerfiles they build against
// what stackctl knows about safe, durable stacks: compose-go's own loading
// (schema, interpolation, consistency), BuildKit's Dockerfile linter, and the
// rules in Rules. It reports every finding at once, each with its rule, file and
// line, and never needs a Docker engine.
package validate
