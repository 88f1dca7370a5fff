package report

import (
	"fmt"
	"sync"
	"time"

	"github.com/docker/go-units"
	"github.com/schollz/progressbar/v3"

	"github.com/stackctl/stackctl/internal/termsafe"
)

// Meter follows a long read or write of bytes: a backup, a restore, a check
// of an archive.
type Meter interface {
	// Start begins a run of total bytes (0 when unknown).
	Start(what string, total int64)
	// Entry says which part is being read.
	Entry(name string)
	Add(n int64)
	Done(err error)
}

// Meter returns how r shows a long read: a bar with bytes, rate and time left
// on a terminal, a line every few seconds otherwise, as text or as JSON.
func (r *Reporter) Meter() Meter {
	switch {
	case r == nil || r.w == nil:
		return nopMeter{}
	case r.Terminal():
		return &barMeter{r: r}
	default:
		return &lineMeter{r: r, every: 5 * time.Second}
	}
}

type nopMeter struct{}

func (nopMeter) Start(string, int64) {}
func (nopMeter) Entry(string)        {}
func (nopMeter) Add(int64)           {}
func (nopMeter) Done(error)          {}

type barMeter struct {
	r     *Reporter
	what  string
	total int64
	bar   *progressbar.ProgressBar
}

func (b *barMeter) Start(what string, total int64) {
	b.what, b.total = what, total
	if total <= 0 {
		total = -1 // a spinner
	}
	b.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(lockedWriter{b.r}),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// Entry names the part: a name from an archive, escaped as any.
func (b *barMeter) Entry(name string) { b.bar.Describe(b.what + ": " + termsafe.String(name)) }

func (b *barMeter) Add(n int64) {
	// The total is an estimate: never let the bar claim it is done early.
	if b.total > 0 && b.bar.State().CurrentNum+n >= b.total {
		b.bar.ChangeMax64(b.bar.State().CurrentNum + n + 1)
	}
	_ = b.bar.Add64(n)
}

func (b *barMeter) Done(error) {
	_ = b.bar.Finish()
	_ = b.bar.Clear()
}

type lineMeter struct {
	r     *Reporter
	every time.Duration
	mu    sync.Mutex
	what  string
	entry string
	total int64
	n     int64
	start time.Time
	last  time.Time
}

func (l *lineMeter) Start(what string, total int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.r.o.Now()
	l.what, l.total, l.n, l.start, l.last = what, total, 0, now, now
}

func (l *lineMeter) Entry(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entry = name
	// The time each entry starts at tells, in a log, how long every entry took.
	l.say(fmt.Sprintf("%s: %s, at %.1fs", l.what, termsafe.String(name), l.r.o.Now().Sub(l.start).Seconds()))
}

func (l *lineMeter) Add(n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n += n
	if now := l.r.o.Now(); now.Sub(l.last) >= l.every {
		l.last = now
		l.say(fmt.Sprintf("%s: %s", l.what, l.status()))
	}
}

func (l *lineMeter) Done(err error) {
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.say(fmt.Sprintf("%s: %s read in %.1fs", l.what, Bytes(l.n), l.r.o.Now().Sub(l.start).Seconds()))
}

func (l *lineMeter) say(msg string) {
	l.r.emit(Event{Level: Progress, Msg: msg, What: l.what, Entry: l.entry, Done: l.n, Total: l.total})
}

// status is "1.2 GiB of ~2.0 GiB, 210 MiB/s, about 4s left".
func (l *lineMeter) status() string {
	elapsed := l.r.o.Now().Sub(l.start).Seconds()
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
