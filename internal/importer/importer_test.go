package importer_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/mltrack/mltrack/internal/importer"
	"github.com/mltrack/mltrack/internal/store/filestore"
	"github.com/mltrack/mltrack/internal/store/sqlstore"
	"github.com/mltrack/mltrack/internal/tracking"
)

const t0 = int64(1_650_000_000_000)

// writeMlruns fills an mlruns folder through the file store: nested runs,
// NaN/±Inf, duplicate points, tags with '/', deleted runs and experiments,
// a dataset input.
func writeMlruns(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	st, err := filestore.Open(ctx, dir, filestore.Options{Now: func() time.Time { return time.UnixMilli(t0) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	exp, err := st.CreateExperiment(ctx, tracking.NewExperiment{Name: "exp-one", Tags: []tracking.Tag{{Key: "team/name", Value: "vision"}}})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := st.CreateExperiment(ctx, tracking.NewExperiment{Name: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	parent, err := st.CreateRun(ctx, tracking.NewRun{ExperimentID: exp, UserID: "u", RunName: "parent", StartTime: t0,
		Tags: []tracking.Tag{{Key: tracking.TagRunName, Value: "parent"}}})
	if err != nil {
		t.Fatal(err)
	}
	pid := parent.Info.RunID
	vals := []float64{1, math.NaN(), math.Inf(1), math.Inf(-1), 0.5, 0.5}
	var ms []tracking.Metric
	for i, v := range vals {
		ms = append(ms, tracking.Metric{Key: "loss", Value: v, Timestamp: t0 + int64(i), Step: int64(i)})
	}
	ms = append(ms, tracking.Metric{Key: "loss", Value: 0.25, Timestamp: t0, Step: 0}) // same step, other value
	if err := st.LogBatch(ctx, pid, ms, []tracking.Param{{Key: "lr", Value: "0.1"}, {Key: "opt/name", Value: "adam"}},
		[]tracking.Tag{{Key: "a/b/c", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	for j := range 3 {
		r, err := st.CreateRun(ctx, tracking.NewRun{ExperimentID: exp, UserID: "u", RunName: fmt.Sprint("child", j), StartTime: t0 + 10 + int64(j),
			Tags: []tracking.Tag{{Key: tracking.TagParentRunID, Value: pid}, {Key: tracking.TagRunName, Value: fmt.Sprint("child", j)}}})
		if err != nil {
			t.Fatal(err)
		}
		var ms []tracking.Metric
		for k := range 4 {
			for s := range 50 {
				ms = append(ms, tracking.Metric{Key: fmt.Sprint("m/", k), Value: float64(k)*0.1 + float64(s)/3, Timestamp: t0 + int64(s), Step: int64(s)})
			}
		}
		if err := st.LogBatch(ctx, r.Info.RunID, ms, nil, nil); err != nil {
			t.Fatal(err)
		}
		fin, end := tracking.StatusFinished, t0+1000+int64(j)
		if _, err := st.UpdateRun(ctx, r.Info.RunID, tracking.RunUpdate{Status: &fin, EndTime: &end}); err != nil {
			t.Fatal(err)
		}
	}
	del, err := st.CreateRun(ctx, tracking.NewRun{ExperimentID: exp, RunName: "deleted", StartTime: t0 + 50})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteRun(ctx, del.Info.RunID); err != nil {
		t.Fatal(err)
	}
	g, err := st.CreateRun(ctx, tracking.NewRun{ExperimentID: gone, RunName: "in-gone", StartTime: t0 + 60})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.LogBatch(ctx, g.Info.RunID, []tracking.Metric{{Key: "x", Value: 3, Timestamp: t0, Step: 1}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteExperiment(ctx, gone); err != nil {
		t.Fatal(err)
	}
}

// snapshot is a store's content keyed by experiment name and run id, with
// target-chosen experiment ids replaced by names and values as SQL keeps
// them (±Inf as ±MaxFloat64, which is what MLflow's SQL store does).
type snapRun struct {
	Info    tracking.RunInfo
	Deleted int64 // -1: none
	Params  []tracking.Param
	Tags    []tracking.Tag
	Metrics []string
	Inputs  []string
}

type snapExp struct {
	E    tracking.Experiment
	Runs map[string]snapRun
}

func snapshot(t *testing.T, src importer.Source) map[string]snapExp {
	t.Helper()
	ctx := context.Background()
	exps, bad, err := src.Experiments(ctx)
	if err != nil || len(bad) > 0 {
		t.Fatalf("experiments: %v %v", err, bad)
	}
	names := map[string]string{}
	for _, e := range exps {
		names[e.ID] = e.Name
	}
	out := map[string]snapExp{}
	for _, e := range exps {
		ids, err := src.RunIDs(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		se := snapExp{E: e, Runs: map[string]snapRun{}}
		se.E.ID = ""
		if len(se.E.Tags) == 0 {
			se.E.Tags = nil
		}
		sort.Slice(se.E.Tags, func(i, j int) bool { return se.E.Tags[i].Key < se.E.Tags[j].Key })
		for _, id := range ids {
			r, err := src.ReadRun(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			sr := snapRun{Info: r.Info, Deleted: -1, Params: r.Params, Tags: r.Tags}
			if r.DeletedTime != nil {
				sr.Deleted = *r.DeletedTime
			}
			if len(sr.Params) == 0 {
				sr.Params = nil
			}
			if len(sr.Tags) == 0 {
				sr.Tags = nil
			}
			sr.Info.ExperimentID = names[r.Info.ExperimentID]
			sort.Slice(sr.Params, func(i, j int) bool { return sr.Params[i].Key < sr.Params[j].Key })
			sort.Slice(sr.Tags, func(i, j int) bool { return sr.Tags[i].Key < sr.Tags[j].Key })
			seen := map[string]bool{}
			for _, m := range r.Metrics {
				v := m.Value
				if math.IsInf(v, 0) {
					v = math.Copysign(math.MaxFloat64, v)
				}
				s := fmt.Sprintf("%s %d %d %v", m.Key, m.Timestamp, m.Step, v)
				if !seen[s] {
					seen[s] = true
					sr.Metrics = append(sr.Metrics, s)
				}
			}
			sort.Strings(sr.Metrics)
			for _, in := range r.Inputs {
				sort.Slice(in.Tags, func(i, j int) bool { return in.Tags[i].Key < in.Tags[j].Key })
				sr.Inputs = append(sr.Inputs, fmt.Sprintf("%+v", in))
			}
			sort.Strings(sr.Inputs)
			se.Runs[id] = sr
		}
		out[e.Name] = se
	}
	return out
}

func compare(t *testing.T, what string, want, got map[string]snapExp) {
	t.Helper()
	for name, we := range want {
		ge, ok := got[name]
		if !ok {
			t.Errorf("%s: experiment %q missing", what, name)
			continue
		}
		if !reflect.DeepEqual(we.E, ge.E) {
			t.Errorf("%s: experiment %q:\nwant %+v\n got %+v", what, name, we.E, ge.E)
		}
		for id, wr := range we.Runs {
			gr, ok := ge.Runs[id]
			if !ok {
				t.Errorf("%s: run %s missing", what, id)
				continue
			}
			if !reflect.DeepEqual(wr, gr) {
				t.Errorf("%s: run %s:\nwant %+v\n got %+v", what, id, wr, gr)
			}
		}
		if len(we.Runs) != len(ge.Runs) {
			t.Errorf("%s: experiment %q has %d runs, want %d", what, name, len(ge.Runs), len(we.Runs))
		}
	}
	if len(want) != len(got) {
		t.Errorf("%s: %d experiments, want %d", what, len(got), len(want))
	}
}

func openFile(t testing.TB, dir string) *filestore.Importer {
	t.Helper()
	im, err := filestore.OpenImporter(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func openSQL(t testing.TB, uri string) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), uri, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// postgresDB creates a fresh database (dropped at cleanup) on the server
// named by MLTRACK_TEST_POSTGRES_URI; unset skips, or fails when CI=true.
func postgresDB(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("MLTRACK_TEST_POSTGRES_URI")
	if admin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MLTRACK_TEST_POSTGRES_URI is not set (required when CI=true)")
		}
		t.Skip("MLTRACK_TEST_POSTGRES_URI is not set")
	}
	u, err := url.Parse(strings.Replace(admin, "postgresql+psycopg2:", "postgresql:", 1))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "import_test_" + hex.EncodeToString(b[:])
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer db.Close()
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func mustImport(t *testing.T, src importer.Source, dst importer.Sink, opts importer.Options) *importer.Summary {
	t.Helper()
	sum, err := importer.Import(context.Background(), src, dst, opts)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if !sum.Match() {
		t.Fatalf("summary does not match: %+v", sum)
	}
	return sum
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	writeMlruns(t, filepath.Join(dir, "mlruns"))
	src := openFile(t, filepath.Join(dir, "mlruns"))
	want := snapshot(t, src)

	lite := openSQL(t, "sqlite:///"+filepath.Join(dir, "a.db"))
	mustImport(t, src, lite, importer.Options{})
	compare(t, "mlruns -> sqlite", want, snapshot(t, lite))

	var last importer.Source = lite
	if os.Getenv("MLTRACK_TEST_POSTGRES_URI") != "" || os.Getenv("CI") == "true" {
		pg := openSQL(t, postgresDB(t))
		mustImport(t, lite, pg, importer.Options{})
		compare(t, "sqlite -> postgres", want, snapshot(t, pg))
		last = pg
	}
	back := openFile(t, filepath.Join(dir, "back"))
	mustImport(t, last, back, importer.Options{})
	compare(t, "-> mlruns", want, snapshot(t, back))

	// What the round trip wrote is a valid mlruns folder for the store too.
	st, err := filestore.Open(context.Background(), filepath.Join(dir, "back"), filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.SearchRuns(context.Background(), tracking.RunQuery{ViewType: tracking.ViewAll, Limit: 100,
		ExperimentIDs: experimentIDs(t, back)})
	if err != nil || len(runs) != 6 {
		t.Fatalf("file store sees %d runs (%v), want 6", len(runs), err)
	}
}

func experimentIDs(t testing.TB, src importer.Source) []string {
	exps, _, err := src.Experiments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range exps {
		ids = append(ids, e.ID)
	}
	return ids
}

func TestIdempotent(t *testing.T) {
	dir := t.TempDir()
	writeMlruns(t, filepath.Join(dir, "mlruns"))
	src := openFile(t, filepath.Join(dir, "mlruns"))
	sinks := map[string]importer.Sink{
		"sqlite": openSQL(t, "sqlite:///"+filepath.Join(dir, "a.db")),
		"mlruns": openFile(t, filepath.Join(dir, "copy")),
	}
	for name, dst := range sinks {
		t.Run(name, func(t *testing.T) {
			first := mustImport(t, src, dst, importer.Options{})
			if first.Written.MetricPoints == 0 {
				t.Fatal("first import wrote no metric points")
			}
			before := snapshot(t, dst)
			for _, dry := range []bool{true, false} {
				again := mustImport(t, src, dst, importer.Options{DryRun: dry})
				if again.Written != (importer.Counts{}) || again.ExperimentsCreated+again.ExperimentsUpdated != 0 {
					t.Errorf("re-import (dry %v) writes %+v, experiments +%d ~%d", dry, again.Written, again.ExperimentsCreated, again.ExperimentsUpdated)
				}
			}
			compare(t, "after re-import", before, snapshot(t, dst))
		})
	}
}

// failingSink stops after n runs, as an interrupted import would.
type failingSink struct {
	importer.Sink
	n int
}

var errInterrupted = errors.New("interrupted")

func (f *failingSink) WriteRun(ctx context.Context, w importer.RunWrite) error {
	if f.n == 0 {
		return errInterrupted
	}
	f.n--
	return f.Sink.WriteRun(ctx, w)
}

func TestResume(t *testing.T) {
	dir := t.TempDir()
	writeMlruns(t, filepath.Join(dir, "mlruns"))
	src := openFile(t, filepath.Join(dir, "mlruns"))
	want := snapshot(t, src)
	for _, name := range []string{"sqlite", "mlruns"} {
		t.Run(name, func(t *testing.T) {
			var dst importer.Sink
			if name == "sqlite" {
				dst = openSQL(t, "sqlite:///"+filepath.Join(t.TempDir(), "a.db"))
			} else {
				dst = openFile(t, filepath.Join(t.TempDir(), "mlruns"))
			}
			_, err := importer.Import(context.Background(), src, &failingSink{Sink: dst, n: 2}, importer.Options{Workers: 1})
			if !errors.Is(err, errInterrupted) {
				t.Fatalf("interrupted import: %v", err)
			}
			sum := mustImport(t, src, dst, importer.Options{})
			if sum.RunsUnchanged != 2 || sum.Written.Runs != 4 {
				t.Errorf("resume: %d unchanged, %d written; want 2 and 4", sum.RunsUnchanged, sum.Written.Runs)
			}
			compare(t, "resumed", want, snapshot(t, dst))
		})
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "mlruns")
	writeMlruns(t, root)
	src := openFile(t, root)
	exps, _, _ := src.Experiments(context.Background())
	var expID string
	for _, e := range exps {
		if e.Name == "exp-one" {
			expID = e.ID
		}
	}
	ids, _ := src.RunIDs(context.Background(), expID)
	// A half-written point in one run, an unreadable meta.yaml in another.
	var halfPath, badMeta string
	for _, id := range ids {
		r, _ := src.ReadRun(context.Background(), id)
		if len(r.Metrics) > 0 && halfPath == "" {
			halfPath = filepath.Join(root, expID, id, "metrics", r.Metrics[0].Key)
			f, _ := os.OpenFile(halfPath, os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("1650000009999 0.7")
			f.Close()
		} else if badMeta == "" && len(r.Metrics) == 0 {
			badMeta = filepath.Join(root, expID, id, "meta.yaml")
			os.WriteFile(badMeta, []byte("run_id: [unclosed\n"), 0o644)
		}
	}

	t.Run("stop", func(t *testing.T) {
		dst := openSQL(t, "sqlite:///"+filepath.Join(t.TempDir(), "a.db"))
		_, err := importer.Import(context.Background(), src, dst, importer.Options{Workers: 1})
		var p *importer.Problem
		if !errors.As(err, &p) || (p.Path != halfPath && p.Path != badMeta) {
			t.Fatalf("stop: err = %v, want a problem naming %s or %s", err, halfPath, badMeta)
		}
	})
	t.Run("skip", func(t *testing.T) {
		dst := openSQL(t, "sqlite:///"+filepath.Join(t.TempDir(), "a.db"))
		sum, err := importer.Import(context.Background(), src, dst, importer.Options{OnError: importer.Skip})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Match() || len(sum.Problems) != 2 {
			t.Fatalf("skip: match=%v problems=%v, want 2 problems", sum.Match(), sum.Problems)
		}
		var paths []string
		for _, p := range sum.Problems {
			var pr *importer.Problem
			if errors.As(p, &pr) {
				paths = append(paths, pr.Path)
			}
		}
		sort.Strings(paths)
		wantPaths := []string{halfPath, badMeta}
		sort.Strings(wantPaths)
		if !reflect.DeepEqual(paths, wantPaths) {
			t.Errorf("problem paths = %v, want %v", paths, wantPaths)
		}
		if sum.Written.Runs != 4 {
			t.Errorf("skip wrote %d runs, want the 4 good ones", sum.Written.Runs)
		}
	})
}

// badBatchSink makes its n-th batch fail inside the transaction, after
// some of the batch is written: the batch repeats its first run's creation,
// which the runs table refuses.
type badBatchSink struct {
	importer.BatchSink
	n int
}

func (f *badBatchSink) WriteRuns(ctx context.Context, ws []importer.RunWrite) error {
	if f.n--; f.n == 0 {
		ws = append(ws[:len(ws):len(ws)], ws[0])
	}
	return f.BatchSink.WriteRuns(ctx, ws)
}

// TestResumeAfterFailedBatch: a batch that fails midway leaves none of its
// runs behind, runs of earlier batches are whole, and a re-run completes.
func TestResumeAfterFailedBatch(t *testing.T) {
	dir := t.TempDir()
	writeMlruns(t, filepath.Join(dir, "mlruns"))
	src := openFile(t, filepath.Join(dir, "mlruns"))
	want := snapshot(t, src)
	uris := map[string]string{"sqlite": "sqlite:///" + filepath.Join(dir, "a.db")}
	if os.Getenv("MLTRACK_TEST_POSTGRES_URI") != "" || os.Getenv("CI") == "true" {
		uris["postgres"] = postgresDB(t)
	}
	for name, uri := range uris {
		t.Run(name, func(t *testing.T) {
			dst := openSQL(t, uri)
			sum, err := importer.Import(context.Background(), src, &badBatchSink{BatchSink: dst, n: 2},
				importer.Options{Workers: 1, BatchRuns: 2})
			if err == nil || !strings.Contains(err.Error(), "none of them was written") {
				t.Fatalf("failed batch: err = %v", err)
			}
			if sum.Written.Runs != 2 {
				t.Errorf("summary counts %d runs written, want the first batch's 2", sum.Written.Runs)
			}
			got := snapshot(t, dst)
			n := 0
			for name, ge := range got {
				for id, gr := range ge.Runs {
					n++
					if wr := want[name].Runs[id]; !reflect.DeepEqual(wr, gr) {
						t.Errorf("run %s is in the target but not whole:\nwant %+v\n got %+v", id, wr, gr)
					}
				}
			}
			if n != 2 {
				t.Errorf("target holds %d runs after the failed batch, want 2", n)
			}
			again := mustImport(t, src, dst, importer.Options{BatchRuns: 2})
			if again.RunsUnchanged != 2 || again.Written.Runs != 4 {
				t.Errorf("resume: %d unchanged, %d written; want 2 and 4", again.RunsUnchanged, again.Written.Runs)
			}
			compare(t, "resumed", want, snapshot(t, dst))
		})
	}
}
