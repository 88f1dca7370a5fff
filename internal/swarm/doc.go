// Package swarm is the Swarm form of a stack: the stack file Docker Swarm
// deploys, rendered from the same typed model as the stack's compose file
// (render.go), and loaded and converted as 'docker stack deploy' would, with
// docker/cli's compose loader used as a library (load.go).
package swarm
