// Package basebuild makes the debian base images: mmdebstrap builds a root file
// system from a Debian mirror by a catalogue recipe and streams it into an
// engine import; the image is tagged only once whole, labelled with its
// recipe's hash, so a build is redone only when the recipe changes.
package basebuild
