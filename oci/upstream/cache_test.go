package upstream

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

type fakeRT struct{ id int }

func (fakeRT) RoundTrip(*http.Request) (*http.Response, error) { return nil, errors.New("fake") }

func TestAuthCache(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	a := newAuthCache(2, time.Minute, clock)
	ctx := context.Background()
	created := 0
	get := func(repo string) int {
		rt, err := a.get(ctx, authKey{"r", repo}, func(context.Context) (http.RoundTripper, error) {
			created++
			return fakeRT{created}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return rt.(fakeRT).id
	}
	steps := []struct {
		name    string
		repo    string
		advance time.Duration
		want    int
	}{
		{"create a", "a", 0, 1},
		{"reuse a", "a", 0, 1},
		{"create b", "b", 0, 2},
		{"reuse a before expiry", "a", 59 * time.Second, 1},
		{"create c evicts b (least recent)", "c", 0, 3},
		{"a still cached", "a", 0, 1},
		{"b recreated", "b", 0, 4},
		{"a expired", "a", time.Minute, 5},
	}
	for _, s := range steps {
		advance(s.advance)
		if got := get(s.repo); got != s.want {
			t.Fatalf("%s: transport %d, want %d", s.name, got, s.want)
		}
		if a.lru.Len() > 2 || len(a.items) > 2 {
			t.Fatalf("%s: cache holds %d, over its bound", s.name, a.lru.Len())
		}
	}

	// A failed creation is not cached.
	fail := errors.New("boom")
	if _, err := a.get(ctx, authKey{"r", "x"}, func(context.Context) (http.RoundTripper, error) { return nil, fail }); !errors.Is(err, fail) {
		t.Fatalf("err = %v", err)
	}
	if _, ok := a.items[authKey{"r", "x"}]; ok {
		t.Error("a failed transport was cached")
	}

	// Concurrent callers share one creation.
	b := newAuthCache(8, time.Minute, clock)
	var calls int
	var cmu sync.Mutex
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			b.get(ctx, authKey{"r", "y"}, func(context.Context) (http.RoundTripper, error) {
				cmu.Lock()
				calls++
				cmu.Unlock()
				<-release
				return fakeRT{}, nil
			})
		})
	}
	time.Sleep(10 * time.Millisecond) // let the callers pile up; correctness does not depend on it
	close(release)
	wg.Wait()
	if calls != 1 {
		t.Errorf("%d creations for one key, want 1", calls)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{"-3", 0},
		{"junk", 0},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"99999999999", 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 900 * time.Millisecond, 2700 * time.Millisecond, 3 * time.Second, 3 * time.Second}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
}

func TestNextLink(t *testing.T) {
	tests := []struct {
		in     []string
		want   string
		wantOK bool
	}{
		{[]string{`</a>; rel="next"`}, "/a", true},
		{[]string{`</p>; rel="prev", </n>; rel="next"`}, "/n", true},
		{[]string{`</p>; rel="prev"`, `</n>; rel=next`}, "/n", true},
		{[]string{`<x>; title="a, <y>; rel=next", <z>; rel="prev next"`}, "z", true},
		{[]string{`</p>; rel="prev"`}, "", false},
		{nil, "", false},
		{[]string{`garbage`}, "", false},
	}
	for _, tt := range tests {
		got, ok := nextLink(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("nextLink(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}
