package tracking

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
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
	return path, svc.histCache.copyEntries()
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
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("snapshot still there after loading: %v", err)
	}
	loaded := svc.histCache.copyEntries()
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
		if s.bytes != l.bytes || !reflect.DeepEqual(s, l) || !bytes.Equal(sb.Bytes(), lb.Bytes()) {
			t.Fatalf("entry %d loaded as %+v, saved %+v", i, l, s)
		}
	}
	// The chart is served from memory (two edge blocks a run) and equals a
	// cold read of the store.
	h.takeScanned()
	checkDownsampled(t, svc, h, runs, "loss", nil, nil, 1000)
	if n := h.takeScanned(); n > 3*2*16 {
		t.Fatalf("chart after loading scanned %d points, want only two edge blocks a run", n)
	}
	// Loaded entries are checked like any other: a newer point written by
	// another process drops run 1's, and the answer stays exact.
	h.write(runs[0], []Metric{{Key: "loss", Step: 200_000, Timestamp: 9, Value: 3}})
	checkDownsampled(t, svc, h, runs, "loss", nil, nil, 1000)
	if n := h.takeScanned(); n < 100_000 {
		t.Fatalf("chart after another writer scanned %d points, want run 1 read again", n)
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
			if n := len(svc.histCache.copyEntries()); n != 0 || rep.Series != 0 {
				t.Fatalf("%d entries loaded from a bad file (%v)", n, err)
			}
			if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("bad snapshot kept: %v", err)
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
	svc := NewService(newHistoryStore(1), ServiceOptions{})
	if _, err := svc.SaveHistoryCache(filepath.Join(path, "x.cache"), snapBackend); err == nil {
		t.Fatal("saved under a file")
	}
}
