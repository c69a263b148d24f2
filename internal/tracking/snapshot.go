package tracking

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"
)

// The history cache snapshot (docs/decisions/0007, fourth pass) carries the
// chart history cache across a graceful restart. Little-endian throughout:
//
//	magic    8 bytes "mltrkHC\n"
//	version  uint32 (snapshotVersion)
//	backend  uint8 length + bytes: whom the entries describe
//	entries  uint32 count, then each:
//	           run, key      uint16 length + bytes each
//	           shift         uint8
//	           kMin, first, last, stamp step, stamp timestamp   int64 each
//	           maxBlocks, n  uint32 each
//	           n blocks      count int64, hasValue uint8, min and max as
//	                         step int64, timestamp int64, value float64 bits
//	crc32    Castagnoli, of every byte before it
//
// Entries are written most recently used first. A reader checks the magic,
// version and backend first, and the checksum and the end of the file
// before it keeps any entry.
const (
	snapshotMagic   = "mltrkHC\n"
	snapshotVersion = 1
	snapBlockBytes  = 8 + 1 + 2*24
)

// ErrSnapshotMismatch marks a snapshot written by another format version or
// for another backend store: not an error of the file, only not ours.
var ErrSnapshotMismatch = errors.New("history cache snapshot does not match")

// SnapshotReport says what SaveHistoryCache or LoadHistoryCache did.
type SnapshotReport struct {
	Series  int   // entries written, or loaded into the cache
	Skipped int   // loaded entries left out: already cached, over the budget or a per-entry limit
	Bytes   int64 // what the written or loaded entries cost in memory
	Elapsed time.Duration
}

// HasHistoryCache reports whether this Service keeps a chart history cache
// that snapshots can hold (a store with latest points, a non-negative
// budget): without one there is nothing to save or load. A log store's
// cache (MetricLogReader) is rebuilt from its files instead.
func (s *Service) HasHistoryCache() bool { return s.histCache != nil && s.logs == nil }

// SaveHistoryCache writes the chart history cache's entries to path,
// atomically: into a temporary file in the same directory, synced, then
// renamed over path, so a reader sees the old file or the whole new one.
// backend names the store the entries describe (LoadHistoryCache compares
// it). Without a cache snapshots can hold (HasHistoryCache) it writes
// nothing and returns a zero report. It may run while requests do: entries
// changed meanwhile are saved as they were when copied, which is still
// valid, only older.
func (s *Service) SaveHistoryCache(path, backend string) (SnapshotReport, error) {
	start := time.Now()
	c := s.histCache
	if !s.HasHistoryCache() {
		return SnapshotReport{}, nil
	}
	entries, changes := c.copyEntries()
	if len(entries) == 0 {
		return SnapshotReport{Elapsed: time.Since(start)}, nil // nothing a file would hold
	}
	rep := SnapshotReport{Series: len(entries)}
	for _, e := range entries {
		rep.Bytes += e.bytes
	}
	err := writeFileAtomic(path, func(w io.Writer) error { return writeSnapshot(w, backend, entries) })
	if err == nil {
		c.mu.Lock()
		c.saved = max(c.saved, changes)
		c.mu.Unlock()
	}
	rep.Elapsed = time.Since(start)
	return rep, err
}

// SaveHistoryCacheEvery saves the cache to path (SaveHistoryCache) every
// interval until ctx ends, whenever it changed since it was last saved or
// loaded, so that a crash or a kill loses at most that interval of chart
// reads and writes. log receives each outcome.
func (s *Service) SaveHistoryCacheEvery(ctx context.Context, path, backend string, every time.Duration, log func(SnapshotReport, error)) {
	c := s.histCache
	if !s.HasHistoryCache() || every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		changed := c.changes != c.saved
		c.mu.Unlock()
		if changed {
			log(s.SaveHistoryCache(path, backend))
		}
	}
}

// LoadHistoryCache reads a snapshot SaveHistoryCache wrote and adds its
// entries to the cache as the warm-up adds its own: an entry already
// cached is kept, none is evicted, and entries go in most recently used
// first until the budget is full (the rest are skipped). A loaded entry is
// unverified: before its first use it is counted against the store, and
// extended if the store has newer points (verifyOrExtend), since the store
// may have changed while no server, or a server that crashed after the
// snapshot, was writing to it. A file of another version or backend
// returns ErrSnapshotMismatch; a truncated or corrupt one an error; in both
// cases nothing is loaded. The file is left in place: the next save
// replaces it.
func (s *Service) LoadHistoryCache(path, backend string) (SnapshotReport, error) {
	start := time.Now()
	c := s.histCache
	if !s.HasHistoryCache() {
		return SnapshotReport{}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return SnapshotReport{}, err
	}
	entries, over, err := readSnapshot(bufio.NewReaderSize(f, 1<<16), backend, c.budget)
	f.Close()
	if err != nil {
		return SnapshotReport{Elapsed: time.Since(start)}, err
	}
	rep := c.load(entries)
	rep.Skipped += over
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// copyEntries returns the cache's entries, most recently used first, with
// blocks of their own (extend may still write an entry's last block), and
// the change count they reflect.
func (c *historyCache) copyEntries() ([]cacheEntry, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]cacheEntry, 0, c.lru.Len())
	for el := c.lru.Front(); el != nil; el = el.Next() {
		e := *el.Value.(*cacheEntry)
		e.blocks = append([]extremes(nil), e.blocks...)
		out = append(out, e)
	}
	return out, c.changes
}

// load adds entries, in order, as finishBuild adds a warm-up's: never over
// the budget, never replacing or evicting one, at the LRU's cold end.
func (c *historyCache) load(entries []cacheEntry) SnapshotReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	var rep SnapshotReport
	for i := range entries {
		e := &entries[i]
		if _, ok := c.entries[e.k]; ok || e.bytes > c.budget/4 || c.used+e.bytes > c.budget {
			rep.Skipped++
			continue
		}
		c.changes++
		e.seq = c.changes
		e.verified = false // the store may have changed since it was saved
		c.entries[e.k] = c.lru.PushBack(e)
		c.used += e.bytes
		rep.Series++
		rep.Bytes += e.bytes
	}
	c.saved = c.changes // what is loaded is what the file holds
	return rep
}

// writeFileAtomic writes path through write into a temporary file beside
// it, then renames it over path; on any error the temporary file is removed
// and path is left as it was.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func writeSnapshot(w io.Writer, backend string, entries []cacheEntry) error {
	if len(backend) > math.MaxUint8 {
		return fmt.Errorf("backend name of %d bytes: at most 255", len(backend))
	}
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	mw := io.MultiWriter(w, crc)
	b := make([]byte, 0, 1<<16)
	b = append(b, snapshotMagic...)
	b = binary.LittleEndian.AppendUint32(b, snapshotVersion)
	b = append(b, byte(len(backend)))
	b = append(b, backend...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		if len(e.k.run) > math.MaxUint16 || len(e.k.key) > math.MaxUint16 {
			return fmt.Errorf("run id or key of over 65535 bytes")
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(len(e.k.run)))
		b = append(b, e.k.run...)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(e.k.key)))
		b = append(b, e.k.key...)
		b = append(b, byte(e.shift))
		for _, v := range []int64{e.kMin, e.first, e.last, e.stamp.step, e.stamp.timestamp} {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(e.maxBlocks))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(e.blocks)))
		for _, x := range e.blocks {
			if len(b)+snapBlockBytes > cap(b) {
				if _, err := mw.Write(b); err != nil {
					return err
				}
				b = b[:0]
			}
			b = binary.LittleEndian.AppendUint64(b, uint64(x.count))
			hv := byte(0)
			if x.hasValue {
				hv = 1
			}
			b = append(b, hv)
			b = appendPoint(b, x.min)
			b = appendPoint(b, x.max)
		}
	}
	if _, err := mw.Write(b); err != nil {
		return err
	}
	_, err := w.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	return err
}

func appendPoint(b []byte, p StepPoint) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(p.Step))
	b = binary.LittleEndian.AppendUint64(b, uint64(p.Timestamp))
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Value))
}

func readPoint(b []byte) StepPoint {
	return StepPoint{Step: int64(binary.LittleEndian.Uint64(b)), Timestamp: int64(binary.LittleEndian.Uint64(b[8:])),
		Value: math.Float64frombits(binary.LittleEndian.Uint64(b[16:]))}
}

// snapReader reads a snapshot while summing its checksum; its first error
// sticks, a short read becoming io.ErrUnexpectedEOF.
type snapReader struct {
	r   io.Reader
	crc hash.Hash32
	buf []byte
	err error
}

func (r *snapReader) next(n int) []byte {
	if r.err != nil {
		return nil
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		r.err = fmt.Errorf("truncated: %w", err)
		return nil
	}
	r.crc.Write(b)
	return b
}

func (r *snapReader) u8() uint8 {
	if b := r.next(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *snapReader) u16() uint16 {
	if b := r.next(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *snapReader) u32() uint32 {
	if b := r.next(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *snapReader) i64() int64 {
	if b := r.next(8); b != nil {
		return int64(binary.LittleEndian.Uint64(b))
	}
	return 0
}

func (r *snapReader) str(n int) string {
	if b := r.next(n); b != nil {
		return string(b)
	}
	return ""
}

// readSnapshot parses a snapshot for backend, keeping entries, in order,
// while their bytes stay within budget (the rest are read and checked, not
// kept). It returns no entry unless the whole file is sound.
func readSnapshot(rd io.Reader, backend string, budget int64) (_ []cacheEntry, over int, _ error) {
	r := &snapReader{r: rd, crc: crc32.New(crc32.MakeTable(crc32.Castagnoli))}
	if magic := r.str(len(snapshotMagic)); r.err == nil && magic != snapshotMagic {
		return nil, 0, errors.New("not a history cache snapshot")
	}
	if v := r.u32(); r.err == nil && v != snapshotVersion {
		return nil, 0, fmt.Errorf("%w: format version %d, this server reads %d", ErrSnapshotMismatch, v, snapshotVersion)
	}
	if b := r.str(int(r.u8())); r.err == nil && b != backend {
		return nil, 0, fmt.Errorf("%w: written for backend %q, this server's is %q", ErrSnapshotMismatch, b, backend)
	}
	n := r.u32()
	var (
		out  []cacheEntry
		kept int64
	)
	for i := uint32(0); i < n && r.err == nil; i++ {
		e := cacheEntry{}
		e.k.run = r.str(int(r.u16()))
		e.k.key = r.str(int(r.u16()))
		e.shift = uint(r.u8())
		e.kMin, e.first, e.last = r.i64(), r.i64(), r.i64()
		e.stamp = stamp{r.i64(), r.i64()}
		e.maxBlocks = int(r.u32())
		nb := r.u32()
		if r.err != nil {
			break
		}
		if err := checkSnapEntry(&e, nb); err != nil {
			return nil, 0, fmt.Errorf("corrupt: entry %d: %w", i, err)
		}
		e.bytes = entryOverhead + int64(nb)*blockBytes
		keep := kept+e.bytes <= budget
		if keep {
			e.blocks = make([]extremes, nb)
			kept += e.bytes
		}
		for j := range int(nb) {
			b := r.next(snapBlockBytes)
			if b == nil {
				break
			}
			x := extremes{count: int(int64(binary.LittleEndian.Uint64(b))), hasValue: b[8] != 0,
				min: readPoint(b[9:]), max: readPoint(b[33:])}
			if x.count < 0 || b[8] > 1 {
				return nil, 0, fmt.Errorf("corrupt: entry %d block %d", i, j)
			}
			if keep {
				e.blocks[j] = x
			}
		}
		if keep {
			out = append(out, e)
		} else {
			over++
		}
	}
	want := r.crc.Sum32()
	tail := make([]byte, 4)
	if r.err == nil {
		if _, err := io.ReadFull(rd, tail); err != nil {
			r.err = fmt.Errorf("truncated: no checksum: %w", err)
		}
	}
	if r.err != nil {
		return nil, 0, r.err
	}
	if got := binary.LittleEndian.Uint32(tail); got != want {
		return nil, 0, fmt.Errorf("corrupt: checksum %08x, content sums to %08x", got, want)
	}
	if k, err := rd.Read(make([]byte, 1)); k > 0 || (err != nil && !errors.Is(err, io.EOF)) {
		return nil, 0, errors.New("corrupt: bytes after the checksum")
	}
	return out, over, nil
}

// checkSnapEntry rejects an entry fromCache could not index safely: its
// blocks must cover first..last on its own grid.
func checkSnapEntry(e *cacheEntry, nb uint32) error {
	switch {
	case e.k.run == "" || e.k.key == "":
		return errors.New("no run or key")
	case e.shift > 62:
		return fmt.Errorf("block shift %d", e.shift)
	case e.first > e.last:
		return errors.New("first step after the last")
	case nb == 0 || nb > maxCacheBlocks || e.maxBlocks <= 0 || e.maxBlocks > maxCacheBlocks:
		return fmt.Errorf("%d blocks, bound %d", nb, e.maxBlocks)
	case e.kMin != e.first>>e.shift || uint64(e.last>>e.shift)-uint64(e.kMin) >= uint64(nb):
		return errors.New("blocks do not cover the steps")
	}
	return nil
}
