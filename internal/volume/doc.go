// Package volume writes tar streams into a stack's named volumes, keeping every
// owner, mode and time, beside a throwaway helper container of the stack's own
// image that mounts them: straight into the volumes' directories when stackctl
// runs as root on the engine's host (and the helper sees what it writes there),
// else through a named pipe that GNU tar in the helper reads when the engine
// runs on this host, else through the engine's archive API. A restore fills its
// volumes with it (WriteVolume), every member through archive's gate whichever
// way writes it; FuzzWriters holds that the three ways write alike.
package volume
