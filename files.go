package stackctl

import "embed"

// Files holds stacks/, themes/ and .dockerignore as they are in this repository.
// The embed lives here, at the module root, because go:embed cannot reach ".."
// and these three sit side by side at the root; a Go file inside themes/ or
// stacks/<stack>/ would be sent to the engine as part of a build context.
//
//go:embed stacks themes .dockerignore
var Files embed.FS
