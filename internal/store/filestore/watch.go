package filestore

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watcher follows changes other processes make to the folder. fsnotify is
// not recursive, so every experiment, run and run subfolder is watched. When
// watches run out (inotify's max_user_watches) it falls back to polling
// modification times every pollInterval.
type watcher struct {
	s    *Store
	w    *fsnotify.Watcher
	done chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	polling bool
	// ready is set once Open has loaded the index; until then changes are
	// only recorded.
	ready         bool
	rescanPending bool
	dirty         map[string]bool // paths relative to root, cut to "exp/run" or "exp"
}

const (
	debounce     = 20 * time.Millisecond
	pollInterval = 2 * time.Second
)

func startWatcher(s *Store) *watcher {
	wt := &watcher{s: s, done: make(chan struct{}), dirty: map[string]bool{}}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Warn("cannot watch mlruns folder, polling instead", "err", err)
		wt.polling = true
	} else {
		wt.w = w
		wt.addTree(s.root)
	}
	wt.wg.Add(1)
	go wt.loop()
	return wt
}

func (wt *watcher) stop() {
	close(wt.done)
	if wt.w != nil {
		_ = wt.w.Close()
	}
	wt.wg.Wait()
}

// addTree watches dir and every folder under it that is part of the
// tracking layout (artifacts are not: they can be huge and are not indexed).
func (wt *watcher) addTree(dir string) {
	if wt.w == nil || wt.isPolling() {
		return
	}
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		switch d.Name() {
		case artifactsDir, "traces", "models":
			if path != wt.s.root {
				return filepath.SkipDir
			}
		}
		if err := wt.w.Add(path); err != nil {
			wt.s.log.Warn("cannot watch folder, polling instead", "dir", path, "err", err)
			wt.mu.Lock()
			wt.polling = true
			wt.mu.Unlock()
			return filepath.SkipAll
		}
		return nil
	})
}

func (wt *watcher) addExperiment(dir string) { wt.addTree(dir) }

func (wt *watcher) markReady() {
	wt.mu.Lock()
	wt.ready = true
	wt.mu.Unlock()
}

func (wt *watcher) isReady() bool {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	return wt.ready
}

func (wt *watcher) isPolling() bool {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	return wt.polling
}

func (wt *watcher) loop() {
	defer wt.wg.Done()
	var events <-chan fsnotify.Event
	var errs <-chan error
	if wt.w != nil {
		events, errs = wt.w.Events, wt.w.Errors
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	for {
		select {
		case <-wt.done:
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if wt.note(ev) {
				timer.Reset(debounce)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			wt.s.log.Warn("mlruns watch error; rescanning", "err", err)
			wt.mu.Lock()
			wt.rescanPending = true
			wt.mu.Unlock()
			timer.Reset(debounce)
		case <-timer.C:
			if !wt.isReady() {
				timer.Reset(debounce)
				continue
			}
			wt.flush()
		case <-poll.C:
			if wt.isPolling() && wt.isReady() {
				wt.s.rescan()
			}
		}
	}
}

// note records which experiment or run an event touched.
func (wt *watcher) note(ev fsnotify.Event) bool {
	rel, err := filepath.Rel(wt.s.root, ev.Name)
	if err != nil || strings.HasPrefix(rel, "..") {
		return false
	}
	if strings.HasPrefix(filepath.Base(ev.Name), tmpPrefix) {
		return false
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	if parts[0] == trashDir {
		parts = parts[1:]
	}
	if len(parts) == 0 || parts[0] == "." || parts[0] == "" {
		return false
	}
	key := parts[0]
	if len(parts) >= 2 && !reservedExperimentFolders[parts[1]] && parts[1] != metaFile {
		if len(parts) >= 3 && parts[2] == artifactsDir {
			return false
		}
		key += "/" + parts[1]
	}
	if ev.Op.Has(fsnotify.Create) {
		if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
			wt.addTree(ev.Name)
		}
	}
	wt.mu.Lock()
	wt.dirty[key] = true
	wt.mu.Unlock()
	return true
}

func (wt *watcher) flush() {
	wt.mu.Lock()
	dirty := wt.dirty
	wt.dirty = map[string]bool{}
	rescan := wt.rescanPending
	wt.rescanPending = false
	wt.mu.Unlock()
	if rescan {
		// Events were lost: compare the whole folder with the index.
		wt.s.rescan()
	}
	for key := range dirty {
		expID, runID, _ := strings.Cut(key, "/")
		wt.s.reload(expID, runID)
	}
}

// reload re-reads one experiment (runID == "") or one run from disk and
// swaps it into the index. It holds writeMu so it never sees one of this
// process's writes half done.
func (s *Store) reload(expID, runID string) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	activeDir := filepath.Join(s.root, expID)
	trashedDir := filepath.Join(s.root, trashDir, expID)
	dir, deleted := activeDir, false
	if _, err := os.Stat(filepath.Join(activeDir, metaFile)); err != nil {
		dir, deleted = trashedDir, true
	}
	s.mu.RLock()
	e, known := s.exps[expID]
	s.mu.RUnlock()
	if runID == "" || !known {
		fresh, err := s.loadExperiment(dir, expID, deleted)
		if err != nil {
			if known {
				s.dropExperiment(e)
			}
			return
		}
		if !known {
			// A new experiment: load it with all its runs.
			s.mu.Lock()
			s.exps[expID] = fresh
			s.mu.Unlock()
			dirs, _ := listRunDirs(dir)
			for _, d := range dirs {
				s.swapRun(fresh, d)
			}
			return
		}
		s.mu.Lock()
		e.meta, e.tags, e.deleted = fresh.meta, fresh.tags, deleted
		s.mu.Unlock()
		if runID == "" {
			return
		}
	}
	s.swapRun(e, filepath.Join(dir, runID))
}

// swapRun replaces (or adds, or drops) the run in folder dir.
func (s *Store) swapRun(e *expEntry, dir string) {
	id := filepath.Base(dir)
	s.mu.RLock()
	prev := e.runs[id]
	s.mu.RUnlock()
	r, err := s.loadRun(e, dir, prev)
	if err != nil {
		if _, statErr := os.Stat(dir); os.IsNotExist(statErr) {
			s.mu.Lock()
			if old, ok := e.runs[id]; ok {
				delete(e.runs, id)
				if s.runs[id] == old {
					delete(s.runs, id)
				}
			}
			s.mu.Unlock()
		}
		return
	}
	s.mu.Lock()
	if old, ok := e.runs[id]; ok {
		r.seenMtime = old.seenMtime
		r.points = old.points // validated by file size before use
	}
	e.runs[id] = r
	s.runs[id] = r
	s.mu.Unlock()
	if s.watch != nil {
		// Subfolders made before the run folder was watched sent no event;
		// watching them now keeps later appends visible.
		s.watch.addTree(dir)
	}
}

func (s *Store) dropExperiment(e *expEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, r := range e.runs {
		if s.runs[id] == r {
			delete(s.runs, id)
		}
	}
	if s.exps[e.meta.ID] == e {
		delete(s.exps, e.meta.ID)
	}
}

// rescan is the polling fallback: it compares folder and file mtimes with
// what the index saw and reloads what changed. It is also used after a watch
// error, when events may have been lost.
func (s *Store) rescan() {
	exps, err := s.scanExperiments()
	if err != nil {
		s.log.Warn("rescan failed", "err", err)
		return
	}
	seen := map[string]bool{}
	for _, fresh := range exps {
		seen[fresh.meta.ID] = true
		s.mu.RLock()
		e, known := s.exps[fresh.meta.ID]
		s.mu.RUnlock()
		if !known {
			s.reload(fresh.meta.ID, "")
			continue
		}
		s.mu.Lock()
		e.meta, e.tags, e.deleted = fresh.meta, fresh.tags, fresh.deleted
		s.mu.Unlock()
		dirs, _ := listRunDirs(s.expDir(e))
		onDisk := map[string]bool{}
		for _, d := range dirs {
			onDisk[filepath.Base(d)] = true
			if s.runChangedSince(d, e) {
				s.reload(e.meta.ID, filepath.Base(d))
			}
		}
		for _, r := range s.runsOf(e) {
			if !onDisk[r.meta.RunID] {
				s.reload(e.meta.ID, r.meta.RunID)
			}
		}
	}
	s.mu.RLock()
	var gone []*expEntry
	for id, e := range s.exps {
		if !seen[id] {
			gone = append(gone, e)
		}
	}
	s.mu.RUnlock()
	for _, e := range gone {
		s.dropExperiment(e)
	}
}

// runChangedSince reports whether anything in a run folder is newer than the
// last rescan. Reloading on a false positive is only wasted work.
func (s *Store) runChangedSince(dir string, e *expEntry) bool {
	s.mu.RLock()
	r, known := e.runs[filepath.Base(dir)]
	s.mu.RUnlock()
	if !known {
		return true
	}
	newest := int64(0)
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == artifactsDir {
			return filepath.SkipDir
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().UnixNano() > newest {
			newest = fi.ModTime().UnixNano()
		}
		return nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := newest > r.seenMtime
	r.seenMtime = newest
	return changed
}
