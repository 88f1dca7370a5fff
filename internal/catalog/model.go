package catalog

import (
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// Helpers the typed compose models share.

// required interpolates v, failing with why when it is unset.
func required(v, why string) string { return "${" + v + ":?" + why + "}" }

func ptr[T any](v T) *T { return &v }

func duration(d time.Duration) *types.Duration { return ptr(types.Duration(d)) }
