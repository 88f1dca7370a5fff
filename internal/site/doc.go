// Package site is the operator's directory stackctl runs from: found from the
// working directory upwards as git finds a repository, created by 'stackctl
// init', marked by its settings file stackctl.yaml. A checkout of stackctl's
// repository is a site too, built from its own stacks/; any other site is built
// from the stacks carried in the binary, written out under .stackctl/.
package site
