package updates

import (
	"errors"
	"fmt"
	"io"
)

// byteSize is n bytes for a message: in MiB when whole.
func byteSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// errTooBig is what a boundedReader returns once its source holds more than
// its bound.
var errTooBig = errors.New("too big")

// boundedReader reads r and fails with errTooBig once more than max bytes
// came from it, so that a caller tells a file at its bound from one past it.
type boundedReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n > b.max {
		return 0, errTooBig
	}
	if int64(len(p)) > b.max+1-b.n {
		p = p[:b.max+1-b.n]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.max {
		return n, errTooBig
	}
	return n, err
}
