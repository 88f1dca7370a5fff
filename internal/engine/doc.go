// Package engine is stackctl's connection to the Docker engine: the Compose SDK
// service and one Engine handle for what the SDK does not do (images by label,
// imports, exec with streams, reading paths out of images and containers).
// Consumers declare the small interfaces they need; this type satisfies them all.
package engine
