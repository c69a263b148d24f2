package tracking

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

const snapBackend = "0123456789abcdef"

// snapshotOf caches runs' "loss" charts in a fresh Service over h and saves
// them; it returns the file and the entries saved.
func snapshotOf(t *testing.T, h *historyStore, runs []string) (string, []cacheEntry) {
	t.Helper()
	svc := NewService(h, ServiceOptions{})
	checkDownsampled(t, svc, h, runs, "loss", nil, nil, 1000)
	path := filepath.Join(t.TempDir(), "sub", "history.cache")
	rep, err := svc.SaveHistoryCache(path, snapBackend)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Series != len(runs) {
		t.Fatalf("saved %+v, want %d series", rep, len(runs))
	}
	entries, _ := svc.histCache.copyEntries()
	return path, entries
}

func TestSnapshotRoundTrip(t *testing.T) {
	h := newHistoryStore(11)
	runs := []string{runID(1), runID(2), runID(3)}
	for i, id := range runs {
		h.write(id, denseMetrics("loss", -5, 99_999, func(s int64) float64 { return math.Sin(float64(s)/50+float64(i)) * float64(s%13) }))
	}
	// NaN and a spike survive the trip bit for bit.
	h.write(runs[2], []Metric{{Key: "loss", Step: 100_000, Timestamp: 5, Value: math.NaN()}, {Key: "loss", Step: 100_001, Timestamp: 6, Value: -1e300}})
	path, saved := snapshotOf(t, h, runs)

	svc := NewService(h, ServiceOptions{})
	rep, err := svc.LoadHistoryCache(path, snapBackend)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Series != 3 || rep.Skipped != 0 || rep.Bytes != svc.histCache.usedBytes() {
		t.Fatalf("load report %+v (cache holds %d bytes)", rep, svc.histCache.usedBytes())
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("snapshot gone after loading: %v", err)
	}
	loaded, _ := svc.histCache.copyEntries()
	if len(loaded) != len(saved) {
		t.Fatalf("loaded %d entries, saved %d", len(loaded), len(saved))
	}
	for i := range saved {
		s, l := saved[i], loaded[i]
		// Compare blocks bit for bit (NaN != NaN to ==).
		var sb, lb bytes.Buffer
		if err := writeSnapshot(&sb, "", saved[i:i+1]); err != nil {
			t.Fatal(err)
		}
		if err := writeSnapshot(&lb, "", loaded[i:i+1]); err != nil {
			t.Fatal(err)
		}
		s.blocks, l.blocks = nil, nil
		if l.verified {
			t.Fatalf("entry %d loaded as verified", i)
		}
		s.verified, s.seq, l.seq = false, 0, 0
		if s.bytes != l.bytes || !reflect.DeepEqual(s, l) || !bytes.Equal(sb.Bytes(), lb.Bytes()) {
			t.Fatalf("entry %d loaded as %+v, saved %+v", i, l, s)
		}
	}
	// The chart is served from memory (two edge blocks a run) after one
	// count of each run's points, and equals a cold read of the store.
	h.takeScanned()
	h.counted = 0
	checkDownsampled(t, svc, h, runs, "loss", nil, nil, 1000)
	if n := h.takeScanned(); n > 3*2*16 || h.counted != 3 {
		t.Fatalf("chart after loading scanned %d points and counted %d times, want two edge blocks and one count a run", n, h.counted)
	}
	checkDownsampled(t, svc, h, runs, "loss", nil, nil, 1000)
	if h.counted != 3 {
		t.Fatalf("verified entries counted again (%d counts)", h.counted)
	}
	// Loaded entries are checked like any other: a newer point written by
	// another process extends run 1's, and the answer stays exact.
	h.takeScanned()
	h.write(runs[0], []Metric{{Key: "loss", Step: 200_000, Timestamp: 9, Value: 3}})
	checkDownsampled(t, svc, h, runs, "loss", nil, nil, 1000)
	if n := h.takeScanned(); n > 3*2*64 {
		t.Fatalf("chart after another writer's append scanned %d points, want run 1's tail", n)
	}
}

// While no server watched, another process wrote to the store: a loaded
// entry whose points changed is read again before use, one that only grew
// at its end is extended, and every answer is exact.
func TestSnapshotEntriesAreVerified(t *testing.T) {
	h := newHistoryStore(14)
	runs := []string{runID(1), runID(2), runID(3), runID(4)}
	for i, id := range runs {
		h.write(id, denseMetrics("loss", 0, 40_000, func(s int64) float64 { return float64((s * int64(i+3)) % 101) }))
	}
	path, _ := snapshotOf(t, h, runs)
	// run 1: untouched; run 2: a back-fill that leaves the latest point as
	// it was; run 3: an append; run 4: a back-fill and an append.
	h.write(runs[1], []Metric{{Key: "loss", Step: 123, Timestamp: 1, Value: 1e12}})
	h.write(runs[2], denseMetrics("loss", 40_001, 41_000, func(s int64) float64 { return -1e6 }))
	h.write(runs[3], []Metric{{Key: "loss", Step: 17_000, Timestamp: 1, Value: -1e12}, {Key: "loss", Step: 50_000, Timestamp: 1, Value: 4}})
	for _, warm := range []bool{false, true} {
		t.Run(fmt.Sprintf("warm-up %v", warm), func(t *testing.T) {
			svc := NewService(&recentStore{historyStore: h, starts: map[string]int64{}}, ServiceOptions{})
			if _, err := svc.LoadHistoryCache(path, snapBackend); err != nil {
				t.Fatal(err)
			}
			if warm {
				if _, err := svc.WarmHistoryCache(context.Background()); err != nil {
					t.Fatal(err)
				}
				for _, id := range runs {
					e, state, _ := svc.histCache.lookup(cacheKey{id, "loss"}, h.latest[cacheKey{id, "loss"}], true)
					if state != entryFresh || !e.verified {
						t.Fatalf("run %s after the warm-up: state %v", id, state)
					}
				}
			}
			h.takeScanned()
			for i, id := range runs {
				checkDownsampled(t, svc, h, []string{id}, "loss", nil, nil, 1000)
				n := h.takeScanned()
				reread := i == 1 || i == 3
				switch {
				case warm && n > 2*64:
					t.Fatalf("run %d scanned %d points after the warm-up verified it", i+1, n)
				case !warm && reread && n < 40_000:
					t.Fatalf("run %d scanned %d points, want a reread", i+1, n)
				case !warm && !reread && n > 1_200:
					t.Fatalf("run %d scanned %d points, want at most its tail", i+1, n)
				}
			}
		})
	}
}

func TestSnapshotIgnoresForeignAndDamagedFiles(t *testing.T) {
	h := newHistoryStore(12)
	runs := []string{runID(1), runID(2)}
	for _, id := range runs {
		h.write(id, denseMetrics("loss", 0, 20_000, func(s int64) float64 { return float64(s % 17) }))
	}
	path, _ := snapshotOf(t, h, runs)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	blockAt := len(snapshotMagic) + 4 + 1 + len(snapBackend) + 4 + 2 + 32 + 2 + 4 + 1 + 5*8 + 8 + 100*snapBlockBytes
	tests := []struct {
		name     string
		data     []byte
		backend  string
		mismatch bool
	}{
		{"other backend", good, "fedcba9876543210", true},
		{"other version", with(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[len(snapshotMagic):], snapshotVersion+1)
			return b
		}), snapBackend, true},
		{"not a snapshot", []byte("PRAGMA journal_mode=WAL;\n"), snapBackend, false},
		{"empty", nil, snapBackend, false},
		{"truncated in the header", good[:10], snapBackend, false},
		{"truncated in a block", good[:blockAt], snapBackend, false},
		{"no checksum", good[:len(good)-4], snapBackend, false},
		{"flipped bit in a value", with(func(b []byte) []byte { b[blockAt+30] ^= 4; return b }), snapBackend, false},
		{"bytes after the checksum", append(slices.Clone(good), 0), snapBackend, false},
		{"impossible block count", with(func(b []byte) []byte {
			i := len(snapshotMagic) + 4 + 1 + len(snapBackend) + 4 + 2 + 32 + 2 + 4 + 1 + 5*8 + 4
			binary.LittleEndian.PutUint32(b[i:], math.MaxUint32)
			return b
		}), snapBackend, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "h.cache")
			if err := os.WriteFile(p, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			svc := NewService(h, ServiceOptions{})
			rep, err := svc.LoadHistoryCache(p, tt.backend)
			if err == nil {
				t.Fatalf("loaded %+v", rep)
			}
			if errors.Is(err, ErrSnapshotMismatch) != tt.mismatch {
				t.Fatalf("error %v: mismatch %v, want %v", err, !tt.mismatch, tt.mismatch)
			}
			if entries, _ := svc.histCache.copyEntries(); len(entries) != 0 || rep.Series != 0 {
				t.Fatalf("%d entries loaded from a bad file (%v)", len(entries), err)
			}
		})
	}
	// Cut at every length of a small snapshot: never loads, never panics.
	small := newHistoryStore(13)
	small.write(runID(5), denseMetrics("loss", 0, 3_000, func(s int64) float64 { return float64(s % 5) }))
	sp, _ := snapshotOf(t, small, []string{runID(5)})
	data, err := os.ReadFile(sp)
	if err != nil {
		t.Fatal(err)
	}
	// Every length through the first blocks, then a sample: each read is
	// of the whole prefix.
	for n := 0; n < len(data); n += 1 + n/256 {
		if es, _, err := readSnapshot(bytes.NewReader(data[:n]), snapBackend, math.MaxInt64); err == nil || es != nil {
			t.Fatalf("a snapshot cut at %d of %d bytes was read: %v", n, len(data), err)
		}
	}
	if es, _, err := readSnapshot(bytes.NewReader(data), snapBackend, math.MaxInt64); err != nil || len(es) != 1 {
		t.Fatalf("whole snapshot: %d entries, %v", len(es), err)
	}
}

// Entries go in most recently used first until the budget is full; an entry
// a request cached before the load is kept, not replaced.
func TestSnapshotLoadRespectsBudget(t *testing.T) {
	r, runs := newRecentStore(6) // 320,320 bytes an entry at 1,000 points
	h := r.historyStore
	// Read oldest first: runs[5] is the most recently used.
	svc1 := NewService(h, ServiceOptions{})
	for _, id := range runs {
		checkDownsampled(t, svc1, h, []string{id}, "loss", nil, nil, 1000)
	}
	path := filepath.Join(t.TempDir(), "h.cache")
	if _, err := svc1.SaveHistoryCache(path, snapBackend); err != nil {
		t.Fatal(err)
	}

	svc := NewService(h, ServiceOptions{HistoryCacheBytes: warmTestBudget}) // 1,536,000 bytes
	checkDownsampled(t, svc, h, runs[:1], "loss", nil, nil, 1000)
	c := svc.histCache
	before := c.entries[cacheKey{runs[0], "loss"}].Value.(*cacheEntry)
	rep, err := svc.LoadHistoryCache(path, snapBackend)
	if err != nil {
		t.Fatal(err)
	}
	if used := c.usedBytes(); used > c.budget {
		t.Fatalf("cache holds %d bytes after loading, budget %d", used, c.budget)
	}
	want := []string{runs[0], runs[3], runs[4], runs[5]}
	if got := cachedRuns(svc, runs, "loss"); !slices.Equal(got, want) || rep.Series != 3 || rep.Skipped != 3 {
		t.Fatalf("cached %v (report %+v), want the request's and the three most recently used %v", got, rep, want)
	}
	if c.entries[cacheKey{runs[0], "loss"}].Value.(*cacheEntry) != before {
		t.Fatal("the request's entry was replaced by the snapshot's")
	}
	// The request's entry stays the most recent; loaded ones keep their order.
	var order []string
	for el := c.lru.Front(); el != nil; el = el.Next() {
		order = append(order, el.Value.(*cacheEntry).k.run)
	}
	if !slices.Equal(order, []string{runs[0], runs[5], runs[4], runs[3]}) {
		t.Fatalf("LRU order %v", order)
	}
	// The warm-up then finds the cache past its fill line and reads nothing.
	r.takeScanned()
	wrep, err := svc.WarmHistoryCache(context.Background())
	if err != nil || wrep.Warmed != 0 || r.takeScanned() != 0 {
		t.Fatalf("warm-up after loading: %+v, %v", wrep, err)
	}
}

func TestSnapshotWriteIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "h.cache")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	tests := []struct {
		name    string
		write   func(io.Writer) error
		wantErr error
		want    string
	}{
		{"fails halfway", func(w io.Writer) error {
			if _, err := w.Write(bytes.Repeat([]byte("x"), 1<<17)); err != nil {
				return err
			}
			return boom
		}, boom, "old"},
		{"succeeds", func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }, nil, "new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := writeFileAtomic(path, tt.write); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != tt.want {
				t.Fatalf("file holds %.10q (%v), want %q", got, err, tt.want)
			}
			des, err := os.ReadDir(dir)
			if err != nil || len(des) != 1 {
				t.Fatalf("directory holds %v (%v), want only the snapshot", des, err)
			}
		})
	}
	// A path that cannot be written (its directory is a file) fails cleanly.
	h := newHistoryStore(1)
	h.write(runID(1), denseMetrics("loss", 0, 5_000, func(s int64) float64 { return float64(s % 3) }))
	svc := NewService(h, ServiceOptions{})
	checkDownsampled(t, svc, h, []string{runID(1)}, "loss", nil, nil, 1000)
	if _, err := svc.SaveHistoryCache(filepath.Join(path, "x.cache"), snapBackend); err == nil {
		t.Fatal("saved under a file")
	}
	// An empty cache writes nothing.
	empty := NewService(newHistoryStore(2), ServiceOptions{})
	if rep, err := empty.SaveHistoryCache(filepath.Join(dir, "empty.cache"), snapBackend); err != nil || rep.Series != 0 {
		t.Fatalf("empty cache saved: %+v, %v", rep, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "empty.cache")); err == nil {
		t.Fatal("a file for an empty cache")
	}
}

// The timer saves only a cache that changed since the last save or load.
func TestSnapshotSavedPeriodicallyWhenChanged(t *testing.T) {
	h := newHistoryStore(15)
	id := runID(1)
	h.write(id, denseMetrics("loss", 0, 20_000, func(s int64) float64 { return float64(s % 7) }))
	svc := NewService(h, ServiceOptions{})
	checkDownsampled(t, svc, h, []string{id}, "loss", nil, nil, 1000)
	path := filepath.Join(t.TempDir(), "h.cache")
	saves := make(chan SnapshotReport, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.SaveHistoryCacheEvery(ctx, path, snapBackend, 5*time.Millisecond, func(rep SnapshotReport, err error) {
			if err != nil {
				t.Error(err)
			}
			saves <- rep
		})
	}()
	if rep := <-saves; rep.Series != 1 {
		t.Fatalf("first save %+v", rep)
	}
	time.Sleep(60 * time.Millisecond)
	if n := len(saves); n != 0 {
		t.Fatalf("%d saves of an unchanged cache", n)
	}
	// A chart read from memory changes nothing; a second series does.
	checkDownsampled(t, svc, h, []string{id}, "loss", nil, nil, 1000)
	h.write(runID(2), denseMetrics("loss", 0, 5_000, func(s int64) float64 { return 1 }))
	checkDownsampled(t, svc, h, []string{runID(2)}, "loss", nil, nil, 1000)
	if rep := <-saves; rep.Series != 2 {
		t.Fatalf("second save %+v", rep)
	}
	cancel()
	<-done
	// A loaded cache is not saved again until it changes.
	svc2 := NewService(h, ServiceOptions{})
	if _, err := svc2.LoadHistoryCache(path, snapBackend); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go svc2.SaveHistoryCacheEvery(ctx, path, snapBackend, 5*time.Millisecond, func(rep SnapshotReport, err error) { saves <- rep })
	time.Sleep(60 * time.Millisecond)
	if n := len(saves); n != 0 {
		t.Fatalf("%d saves of a just-loaded cache", n)
	}
}

// Loaded entries verified and extended while this server appends to them,
// another process appends too, and the warm-up runs (run with -race): once
// the writes stop, every answer is exact.
func TestSnapshotVerifyRacesWrites(t *testing.T) {
	h := newHistoryStore(16)
	runs := []string{runID(1), runID(2), runID(3)}
	for _, id := range runs {
		h.write(id, denseMetrics("loss", 0, 9_999, func(s int64) float64 { return float64(s % 13) }))
	}
	path, _ := snapshotOf(t, h, runs)
	svc := NewService(&recentStore{historyStore: h, starts: map[string]int64{}}, ServiceOptions{})
	if _, err := svc.LoadHistoryCache(path, snapBackend); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
			}
		}()
	}
	run(func() error { _, err := svc.WarmHistoryCache(ctx); return err })
	for r := range 3 {
		run(func() error {
			for range 20 {
				if _, err := svc.GetMetricHistoryDownsampled(ctx, runs, "loss", nil, nil, 400+r); err != nil {
					return err
				}
			}
			return nil
		})
	}
	run(func() error {
		for i := range 30 {
			from := int64(10_000 + 40*i)
			if err := svc.LogBatch(ctx, runs[i%3], denseMetrics("loss", from, from+39, func(s int64) float64 { return -float64(s % 7) }), nil, nil); err != nil {
				return err
			}
		}
		return nil
	})
	run(func() error {
		for i := range 30 {
			h.write(runs[(i+1)%3], []Metric{{Key: "loss", Step: int64(20_000 + i), Timestamp: 3, Value: float64(i)}})
		}
		return nil
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkDownsampled(t, svc, h, runs, "loss", nil, nil, 500)
	checkDownsampled(t, svc, h, runs, "loss", nil, nil, 400)
}
