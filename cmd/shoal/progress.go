package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows how far a transfer of bytes has come.
type progress interface {
	// Update says done of total bytes have moved (total <= 0: not known
	// yet), the last of them for item (a digest, or "" for none).
	Update(item string, done, total int64)
	// Finish ends the display; the caller prints its summary after it.
	Finish()
}

// newProgress is a progress bar on a terminal and plain lines, at most
// one a second, anywhere else (logs, CI).
func newProgress(w io.Writer, verb string) progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return newBarProgress(w, verb)
	}
	return &lineProgress{w: w, verb: verb, now: time.Now, every: time.Second}
}

// lineProgress prints "verb: item done/total" lines.
type lineProgress struct {
	mu                sync.Mutex
	w                 io.Writer
	verb              string
	now               func() time.Time
	every             time.Duration
	last              time.Time
	item              string
	done, total       int64
	pending, anything bool
}

func (p *lineProgress) Update(item string, done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.item, p.done, p.total = item, done, total
	p.pending = true
	if now := p.now(); !p.anything || now.Sub(p.last) >= p.every {
		p.last = now
		p.printLocked()
	}
}

func (p *lineProgress) printLocked() {
	fmt.Fprintln(p.w, progressLine(p.verb, p.item, p.done, p.total))
	p.pending, p.anything = false, true
}

// Finish prints the last state if it has not been printed.
func (p *lineProgress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending {
		p.printLocked()
	}
}

// progressLine is one plain progress line, e.g.
// "import: sha256:0123456789ab… 12.3 MiB/40.0 MiB".
func progressLine(verb, item string, done, total int64) string {
	var b strings.Builder
	b.WriteString(verb)
	b.WriteString(":")
	if item != "" {
		b.WriteString(" ")
		b.WriteString(shortDigest(item))
	}
	b.WriteString(" ")
	b.WriteString(formatBytes(done))
	if total > 0 {
		b.WriteString("/")
		b.WriteString(formatBytes(total))
	}
	return b.String()
}

// shortDigest keeps the algorithm and 12 hex digits of a digest.
func shortDigest(s string) string {
	alg, hex, ok := strings.Cut(s, ":")
	if !ok || len(hex) <= 12 {
		return s
	}
	return alg + ":" + hex[:12] + "…"
}

// formatBytes writes n in binary units with one decimal: "512 B",
// "12.3 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// barProgress is a progress bar of bytes for a terminal.
type barProgress struct {
	mu    sync.Mutex
	w     io.Writer
	bar   *progressbar.ProgressBar
	verb  string
	total int64
}

func newBarProgress(w io.Writer, verb string) *barProgress {
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(verb),
		progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
	)
	return &barProgress{w: w, bar: bar, verb: verb, total: -1}
}

func (p *barProgress) Update(item string, done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if total <= 0 {
		total = -1
	}
	if total != p.total {
		p.total = total
		p.bar.ChangeMax64(total)
	}
	desc := p.verb
	if item != "" {
		desc += " " + shortDigest(item)
	}
	p.bar.Describe(desc)
	_ = p.bar.Set64(done)
}

func (p *barProgress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Exit()
	fmt.Fprintln(p.w)
}
