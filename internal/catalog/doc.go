// Package catalog is what stackctl knows how to run, as data: the stacks, their
// typed compose models and the compose files generated from them, the base images
// with the mmdebstrap recipes of their debian twins, the profiles, the secrets a
// stack needs and what its first start sets up. Nothing here touches the engine
// or the disk; internal/stack runs what it describes.
package catalog
