package backup

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/docker/go-units"
	"github.com/schollz/progressbar/v3"
)

// Progress follows a long read of a stack or an archive.
type Progress interface {
	// Start begins a run of total bytes (0 when unknown).
	Start(what string, total int64)
	// Entry says which entry is being read.
	Entry(name string)
	Add(n int64)
	Done(err error)
}

type nopProgress struct{}

func (nopProgress) Start(string, int64) {}
func (nopProgress) Entry(string)        {}
func (nopProgress) Add(int64)           {}
func (nopProgress) Done(error)          {}

// NewProgress shows progress on w: a bar with bytes, rate and time left on a
// terminal, a plain line every few seconds otherwise.
func NewProgress(w io.Writer, tty bool) Progress {
	if tty {
		return &barProgress{w: w}
	}
	return &lineProgress{w: w, every: 5 * time.Second}
}

type barProgress struct {
	w     io.Writer
	what  string
	total int64
	bar   *progressbar.ProgressBar
}

func (b *barProgress) Start(what string, total int64) {
	b.what, b.total = what, total
	if total <= 0 {
		total = -1 // a spinner
	}
	b.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func (b *barProgress) Entry(name string) { b.bar.Describe(b.what + ": " + name) }

func (b *barProgress) Add(n int64) {
	// The total is an estimate: never let the bar claim it is done early.
	if b.total > 0 && b.bar.State().CurrentNum+n >= b.total {
		b.bar.ChangeMax64(b.bar.State().CurrentNum + n + 1)
	}
	_ = b.bar.Add64(n)
}

func (b *barProgress) Done(error) {
	_ = b.bar.Finish()
	_ = b.bar.Clear()
}

type lineProgress struct {
	w     io.Writer
	every time.Duration
	mu    sync.Mutex
	what  string
	entry string
	total int64
	n     int64
	start time.Time
	last  time.Time
}

func (l *lineProgress) Start(what string, total int64) {
	l.what, l.total, l.n, l.start, l.last = what, total, 0, time.Now(), time.Now()
}

func (l *lineProgress) Entry(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entry = name
	// The time each entry starts at tells, in a log, how long every entry took.
	fmt.Fprintf(l.w, "%s: %s, at %.1fs\n", l.what, name, time.Since(l.start).Seconds())
}

func (l *lineProgress) Add(n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n += n
	if time.Since(l.last) < l.every {
		return
	}
	l.last = time.Now()
	fmt.Fprintf(l.w, "%s: %s\n", l.what, l.status())
}

func (l *lineProgress) Done(err error) {
	if err == nil {
		fmt.Fprintf(l.w, "%s: %s read in %.1fs\n", l.what, Bytes(l.n), time.Since(l.start).Seconds())
	}
}

// status is "1.2 GiB of ~2.0 GiB, 210 MiB/s, about 4s left".
func (l *lineProgress) status() string {
	elapsed := time.Since(l.start).Seconds()
	rate := float64(l.n) / max(elapsed, 0.001)
	s := Bytes(l.n)
	if l.total > l.n {
		s += " of ~" + Bytes(l.total)
	}
	s += fmt.Sprintf(", %s/s", Bytes(int64(rate)))
	if l.total > l.n && rate > 0 {
		s += fmt.Sprintf(", about %s left", time.Duration(float64(l.total-l.n)/rate*float64(time.Second)).Round(time.Second))
	}
	return s
}

// Bytes formats a size in binary units, as du -h and the progress bar do: "3.4MiB".
func Bytes(n int64) string { return units.BytesSize(float64(n)) }
