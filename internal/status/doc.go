// Package status reads what a stack runs and where it stands: versions,
// release and base, the active generation, maintenance, the last backup, and
// the upgrades the available bases or pinned tags offer.
package status
