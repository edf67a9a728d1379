package traffic

import (
	"fmt"
	"testing"
	"time"
)

func TestPulls(t *testing.T) {
	p := NewPulls(3)
	for i := range 5 {
		p.Add(Pull{At: time.Unix(int64(i), 0), Repo: fmt.Sprint("r", i)})
	}
	got := p.Recent(nil)
	if len(got) != 3 || got[0].Repo != "r4" || got[2].Repo != "r2" {
		t.Fatalf("recent = %+v, want r4, r3, r2", got)
	}
	got = p.Recent(func(x Pull) bool { return x.Repo != "r3" })
	if len(got) != 2 || got[0].Repo != "r4" || got[1].Repo != "r2" {
		t.Fatalf("filtered = %+v, want r4, r2", got)
	}
}
