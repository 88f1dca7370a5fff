// Package atomicfile writes files so that no reader, and no crash at any point,
// ever leaves a partial file under the final name: state records, secrets,
// backup archives (also as streamed uploads to a local off-site target) and the
// kernel image all go through it.
package atomicfile
