// Package volume writes tar streams into a stack's named volumes, keeping every
// owner, mode and time, through a throwaway helper container of the stack's own
// image: fed through a named pipe when the engine runs on this host, through the
// engine's archive API otherwise. A restore fills its volumes with it.
package volume
