// Package settings is a site's settings file, stackctl.yaml: its schema (the
// types of schema.go, whose doc comments are the documentation), a strict
// decoder that reports every problem with its file and line, the checks of
// the secret files it names, and the reference page and init template
// generated from the schema's own source.
package settings
