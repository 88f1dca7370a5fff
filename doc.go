// Package stackctl carries the files stackctl builds its stacks from inside the
// binary: stacks/ (Dockerfiles, configuration, compose files), themes/ (the
// theme a new site starts with) and .dockerignore (which keeps the Redmine build
// context to what its image needs). internal/site writes them out where a site
// that is not a checkout of this repository needs them.
package stackctl
