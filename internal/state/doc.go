// Package state keeps what stackctl remembers about each stack between runs, in
// the operator's state directory: the recorded profile and listen address
// (state.json) and the generated secrets, one 0600 file each.
package state
