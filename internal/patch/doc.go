// Package patch applies Debian's security and stable updates to a stack
// (stackctl update): it finds what the images a stack runs, and the debian
// bases they build on, hold that Debian has fixed since they were built;
// rebuilds those bases; and has up hand the new images over as it hands any
// change over, a backup taken first. status shows what it finds.
package patch
