// Package registry publishes the images stackctl builds: it tags a stack's image
// with the operator's reference and pushes it through the Docker engine, with the
// credentials of the standard Docker configuration (docker login).
package registry
