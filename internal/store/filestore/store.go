// Package filestore implements tracking.Store on MLflow's mlruns directory
// format, writing files byte for byte as MLflow 3.18's FileStore does.
//
// MLflow's own FileStore walks the whole tree on every search. This one
// loads an in-memory index (experiments, run infos, params, tags, latest
// metrics) on Open, keeps it current on its own writes, and follows other
// writers (a training script logging to the same folder) through fsnotify,
// or by polling mtimes where watching is impossible. Metric histories are
// read from the files on demand.
package filestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mltrack/mltrack/internal/tracking"
)

// Options configures a Store.
type Options struct {
	// DefaultArtifactRoot is the artifact root of new experiments; empty
	// means the root folder's file: URI, as MLflow does.
	DefaultArtifactRoot string
	Logger              *slog.Logger
	Now                 func() time.Time
}

// Store is a tracking.Store over an mlruns folder.
type Store struct {
	root         string
	artifactRoot string
	log          *slog.Logger
	now          func() time.Time

	// writeMu serialises this process's writes with index reloads, so a
	// reload never reads the disk halfway through one of our writes.
	writeMu sync.Mutex
	// mu guards the index.
	mu   sync.RWMutex
	exps map[string]*expEntry
	runs map[string]*runEntry

	watch *watcher
}

var _ tracking.Store = (*Store)(nil)

type expEntry struct {
	meta    experimentMeta
	tags    map[string]string
	deleted bool // lives under .trash
	runs    map[string]*runEntry
}

type datasetRef struct{ name, digest, context string }

type runEntry struct {
	exp      *expEntry
	meta     runMeta
	params   map[string]string
	tags     map[string]string
	metrics  map[string]tracking.Metric // latest by (step, timestamp, value)
	inputs   tracking.RunInputs
	outputs  tracking.RunOutputs
	datasets []datasetRef
	// points caches each metric file's points (by size) to drop exact
	// duplicates as the SQL store does. Guarded by Store.writeMu.
	points map[string]*pointCache
	// metricOff is how far each metric file has been read (a line end).
	metricOff map[string]int64
	// seenMtime is the newest mtime in the folder at the last poll.
	seenMtime int64
}

// Open opens (creating when missing) the mlruns folder root, a path or a
// file:///abs URI, and loads its index.
func Open(ctx context.Context, root string, opts Options) (*Store, error) {
	path, err := localPath(root)
	if err != nil {
		return nil, err
	}
	s := &Store{root: path, log: opts.Logger, now: opts.Now,
		exps: map[string]*expEntry{}, runs: map[string]*runEntry{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.artifactRoot = fileURI(path)
	if opts.DefaultArtifactRoot != "" {
		s.artifactRoot = resolveArtifactLocation(opts.DefaultArtifactRoot)
	}
	if _, err := os.Stat(path); os.IsNotExist(err) {
		if err := os.MkdirAll(path, 0o755); err != nil {
			return nil, fmt.Errorf("create mlruns root: %w", err)
		}
		if _, err := s.createExperimentWithID(tracking.DefaultExperimentID,
			tracking.NewExperiment{Name: "Default"}); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(path, trashDir), 0o755); err != nil {
		return nil, fmt.Errorf("create trash folder: %w", err)
	}
	// Watch before loading so no change made during the load is lost; the
	// watcher holds what it sees until the index is ready.
	start := time.Now()
	s.watch = startWatcher(s)
	if err := s.loadAll(ctx); err != nil {
		s.watch.stop()
		return nil, err
	}
	s.watch.markReady()
	s.log.Debug("filestore index loaded", "root", path, "experiments", len(s.exps),
		"runs", len(s.runs), "took", time.Since(start))
	return s, nil
}

// Close stops following the folder once in-flight writes are done.
func (s *Store) Close() error {
	if s.watch != nil {
		s.watch.stop()
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return nil
}

func localPath(root string) (string, error) {
	if strings.HasPrefix(root, "file:") {
		u, err := url.Parse(root)
		if err != nil {
			return "", fmt.Errorf("parse root URI %q: %w", root, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf("root URI %q: only local file: URIs are supported", root)
		}
		root = u.Path
		if root == "" {
			root = u.Opaque // file:relative/path
		}
	}
	if root == "" {
		return "", errors.New("mlruns root is empty")
	}
	return filepath.Abs(root)
}

// fileURI is Python's Path.as_uri(): every byte but unreserved ones and "/"
// is percent-encoded (Go's url package would keep more).
func fileURI(path string) string {
	var b strings.Builder
	b.WriteString("file://")
	for _, c := range []byte(filepath.ToSlash(path)) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.-~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// resolveArtifactLocation turns a local path into a file: URI, as MLflow's
// resolve_uri_if_local does; URIs are kept.
func resolveArtifactLocation(loc string) string {
	if u, err := url.Parse(loc); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		return loc
	}
	abs, err := filepath.Abs(loc)
	if err != nil {
		return loc
	}
	return fileURI(abs)
}

func appendURIPath(base string, parts ...string) string {
	return strings.TrimRight(base, "/") + "/" + strings.Join(parts, "/")
}

// ---- paths ----

func (s *Store) expDir(e *expEntry) string {
	if e.deleted {
		return filepath.Join(s.root, trashDir, e.meta.ID)
	}
	return filepath.Join(s.root, e.meta.ID)
}

func (s *Store) runDir(r *runEntry) string {
	return filepath.Join(s.expDir(r.exp), r.meta.RunID)
}

// ---- loading ----

// loadAll builds the index with a bounded pool of workers: listing is cheap,
// reading thousands of small files is not.
func (s *Store) loadAll(ctx context.Context) error {
	exps, err := s.scanExperiments()
	if err != nil {
		return err
	}
	type job struct {
		exp *expEntry
		dir string
	}
	jobs := make(chan job)
	type result struct {
		exp *expEntry
		run *runEntry
	}
	results := make(chan result)
	var wg sync.WaitGroup
	for range max(4, runtime.GOMAXPROCS(0)*2) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				r, err := s.loadRun(j.exp, j.dir, nil)
				if err != nil {
					s.log.Debug("skipping run folder", "dir", j.dir, "err", err)
					continue
				}
				results <- result{j.exp, r}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, e := range exps {
			dirs, err := listRunDirs(s.expDir(e))
			if err != nil {
				s.log.Warn("cannot list experiment", "id", e.meta.ID, "err", err)
				continue
			}
			for _, d := range dirs {
				select {
				case jobs <- job{e, d}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range exps {
		s.exps[e.meta.ID] = e
	}
	for res := range results {
		res.exp.runs[res.run.meta.RunID] = res.run
		s.runs[res.run.meta.RunID] = res.run
	}
	return ctx.Err()
}

// scanExperiments reads every experiment's meta.yaml and tags.
func (s *Store) scanExperiments() ([]*expEntry, error) {
	var out []*expEntry
	for _, deleted := range []bool{false, true} {
		parent := s.root
		if deleted {
			parent = filepath.Join(s.root, trashDir)
		}
		ents, err := os.ReadDir(parent)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		for _, d := range ents {
			if !d.IsDir() || d.Name() == trashDir || d.Name() == "models" {
				continue
			}
			e, err := s.loadExperiment(filepath.Join(parent, d.Name()), d.Name(), deleted)
			if err != nil {
				s.log.Warn("malformed experiment", "dir", d.Name(), "err", err)
				continue
			}
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *Store) loadExperiment(dir, id string, deleted bool) (*expEntry, error) {
	m, err := readYAMLMap(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, err
	}
	meta := parseExperimentMeta(m)
	if meta.ID != id {
		return nil, fmt.Errorf("experiment id %q recorded in folder %q", meta.ID, id)
	}
	tags, err := readKeyFiles(filepath.Join(dir, tagsDir))
	if err != nil {
		return nil, err
	}
	return &expEntry{meta: meta, tags: tags, deleted: deleted, runs: map[string]*runEntry{}}, nil
}

// listRunDirs lists an experiment's subfolders that may be runs.
func listRunDirs(expDir string) ([]string, error) {
	ents, err := os.ReadDir(expDir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range ents {
		if d.IsDir() && !reservedExperimentFolders[d.Name()] {
			out = append(out, filepath.Join(expDir, d.Name()))
		}
	}
	return out, nil
}

// loadRun reads a run folder. exp.meta is only read (never written)
// outside s.mu, so workers may share it. With prev (the entry being
// replaced) metric files are read only past the bytes prev already consumed,
// so following a run that logs often never re-reads long histories.
func (s *Store) loadRun(exp *expEntry, dir string, prev *runEntry) (*runEntry, error) {
	m, err := readYAMLMap(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, err
	}
	meta := parseRunMeta(m)
	if meta.ExperimentID != exp.meta.ID || meta.RunID != filepath.Base(dir) {
		return nil, fmt.Errorf("run meta.yaml does not match its folder")
	}
	r := &runEntry{exp: exp, meta: meta, metrics: map[string]tracking.Metric{}}
	if r.params, err = readKeyFiles(filepath.Join(dir, paramsDir)); err != nil {
		return nil, err
	}
	if r.tags, err = readKeyFiles(filepath.Join(dir, tagsDir)); err != nil {
		return nil, err
	}
	if r.meta.RunName == "" {
		r.meta.RunName = r.tags[tracking.TagRunName]
	}
	r.metricOff = map[string]int64{}
	err = walkKeys(filepath.Join(dir, metricsDir), func(key, path string) error {
		var from int64
		latest, have := tracking.Metric{}, false
		if prev != nil {
			s.mu.RLock()
			off, known := prev.metricOff[key]
			latest, have = prev.metrics[key]
			s.mu.RUnlock()
			if known {
				from = off
			} else {
				have = false
			}
		}
		points, off, err := readMetricFileFrom(path, key, from)
		if err != nil {
			return err
		}
		if off < from { // the file shrank: it was rewritten, read it whole
			have = false
			if points, off, err = readMetricFileFrom(path, key, 0); err != nil {
				return err
			}
		}
		for _, p := range points {
			if !have || metricLess(latest, p) {
				latest, have = p, true
			}
		}
		r.metricOff[key] = off
		if have {
			r.metrics[key] = latest
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Most runs have neither inputs/ nor outputs/: one stat each is cheaper
	// than failing to list them.
	if hasDir(filepath.Join(dir, inputsDir)) || hasDir(filepath.Join(dir, outputsDir)) {
		if err := s.loadInputs(r, dir); err != nil {
			s.log.Warn("cannot read run inputs", "run", meta.RunID, "err", err)
		}
	}
	return r, nil
}

// loadInputs reads inputs/ (datasets and model inputs) and outputs/.
func (s *Store) loadInputs(r *runEntry, dir string) error {
	ents, err := os.ReadDir(filepath.Join(dir, inputsDir))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, d := range ents {
		m, err := readYAMLMap(filepath.Join(dir, inputsDir, d.Name(), metaFile))
		if err != nil {
			return err
		}
		srcID := yamlString(m, "source_id")
		switch yamlString(m, "source_type") {
		case "DATASET":
			dm, err := readYAMLMap(filepath.Join(s.expDir(r.exp), datasetsDir, srcID, metaFile))
			if err != nil {
				s.log.Warn("dataset of run input not found", "run", r.meta.RunID, "dataset", srcID)
				continue
			}
			in := tracking.DatasetInput{Dataset: tracking.Dataset{
				Name: yamlString(dm, "name"), Digest: yamlString(dm, "digest"),
				SourceType: yamlString(dm, "source_type"), Source: yamlString(dm, "source"),
				Schema: yamlString(dm, "schema"), Profile: yamlString(dm, "profile"),
			}}
			ref := datasetRef{name: in.Dataset.Name, digest: in.Dataset.Digest}
			if tags, ok := m["tags"].(map[string]any); ok {
				keys := make([]string, 0, len(tags))
				for k := range tags {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					v := fmt.Sprint(tags[k])
					in.Tags = append(in.Tags, tracking.Tag{Key: k, Value: v})
					if k == "mlflow.data.context" {
						ref.context = v
					}
				}
			}
			r.inputs.DatasetInputs = append(r.inputs.DatasetInputs, in)
			r.datasets = append(r.datasets, ref)
		case "MODEL":
			r.inputs.ModelInputs = append(r.inputs.ModelInputs, tracking.ModelInput{ModelID: srcID})
		}
	}
	outs, err := os.ReadDir(filepath.Join(dir, outputsDir))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, d := range outs {
		m, err := readYAMLMap(filepath.Join(dir, outputsDir, d.Name(), metaFile))
		if err != nil {
			return err
		}
		if yamlString(m, "destination_type") != "MODEL_OUTPUT" {
			continue
		}
		step, _ := yamlInt(m, "step")
		r.outputs.ModelOutputs = append(r.outputs.ModelOutputs,
			tracking.ModelOutput{ModelID: yamlString(m, "destination_id"), Step: step})
	}
	return nil
}

// ---- ids ----

// newExperimentID returns 18 random decimal digits without leading zero, the
// shape of MLflow's _generate_unique_integer_id.
func newExperimentID() (string, error) {
	lo := new(big.Int).Exp(big.NewInt(10), big.NewInt(17), nil)
	n, err := rand.Int(rand.Reader, new(big.Int).Mul(lo, big.NewInt(9)))
	if err != nil {
		return "", err
	}
	return n.Add(n, lo).String(), nil
}

// newRunID is uuid4().hex.
func newRunID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:]), nil
}

func (s *Store) nowMillis() int64 { return s.now().UnixMilli() }

// ---- errors (SQL store wording, so both backends read the same) ----

func errExperimentNotFound(id string) error {
	return tracking.NotFound("No Experiment with id=%s exists", id)
}

func errRunNotFound(id string) error {
	return tracking.NotFound("Run with id=%s not found", id)
}

func errRunNotActive(r *runEntry) error {
	return tracking.InvalidParameter("The run %s must be in the 'active' state. Current state is %s.",
		r.meta.RunID, r.meta.LifecycleStage)
}

func errExperimentNotActive(e *expEntry) error {
	return tracking.InvalidParameter("The experiment %s must be in the 'active' state. Current state is %s.",
		e.meta.ID, e.meta.LifecycleStage)
}

// ---- copies out of the index ----

func (e *expEntry) experiment() tracking.Experiment {
	x := e.meta.Experiment
	x.Tags = sortedTags(e.tags)
	return x
}

func sortedTags(m map[string]string) []tracking.Tag {
	out := make([]tracking.Tag, 0, len(m))
	for k, v := range m {
		out = append(out, tracking.Tag{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (r *runEntry) info() tracking.RunInfo {
	i := r.meta.RunInfo
	if i.EndTime != nil {
		v := *i.EndTime
		i.EndTime = &v
	}
	return i
}

func (r *runEntry) run() tracking.Run {
	out := tracking.Run{Info: r.info(), Inputs: r.inputs, Outputs: r.outputs}
	out.Data.Tags = sortedTags(r.tags)
	params := sortedTags(r.params)
	out.Data.Params = make([]tracking.Param, len(params))
	for i, p := range params {
		out.Data.Params[i] = tracking.Param(p)
	}
	out.Data.Metrics = make([]tracking.Metric, 0, len(r.metrics))
	for _, m := range r.metrics {
		m.RunID = ""
		out.Data.Metrics = append(out.Data.Metrics, m)
	}
	sort.Slice(out.Data.Metrics, func(i, j int) bool { return out.Data.Metrics[i].Key < out.Data.Metrics[j].Key })
	return out
}

type pointKey struct {
	ts, step int64
	bits     uint64
}

func keyOf(m tracking.Metric) pointKey {
	v := m.Value
	if math.IsNaN(v) {
		v = math.NaN() // one NaN bit pattern
	}
	return pointKey{m.Timestamp, m.Step, math.Float64bits(v)}
}

type pointCache struct {
	size int64
	set  map[pointKey]struct{}
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func hasDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
