// Package sqlstore keeps tracking data in MLflow's own SQL schema (as MLflow
// 3.18.0 creates it) on SQLite or PostgreSQL, so a database can be shared
// with, or handed back to, a real MLflow server.
//
// The DDL in schema/ is generated from databases MLflow itself created, never
// written by hand; schema/gen.sh regenerates it and the golden listings the
// schema tests compare against.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/mltrack/mltrack/internal/tracking"
)

// SchemaRevision is the alembic head of MLflow 3.18.0; the store only opens
// databases stamped with it and never migrates.
const SchemaRevision = "f4a9b2c7d1e6"

// defaultWorkspace is what MLflow writes in experiments.workspace when
// workspaces are disabled.
const defaultWorkspace = "default"

//go:embed schema/sqlite.sql schema/postgres.sql
var schemaFS embed.FS

// Options configures a Store.
type Options struct {
	// DefaultArtifactRoot is where experiments without an explicit artifact
	// location keep artifacts: <root>/<experiment id>. A relative local path
	// is made absolute, as MLflow does.
	DefaultArtifactRoot string
	Logger              *slog.Logger
	Now                 func() time.Time // nil means time.Now
}

// Store implements tracking.Store on MLflow's SQL schema.
type Store struct {
	d    dialect
	w    *sql.DB // SQLite: exactly one connection, so writers queue in Go, not in SQLite
	r    *sql.DB // readers; the same pool as w on PostgreSQL
	root string
	now  func() time.Time
	log  *slog.Logger
}

var _ tracking.Store = (*Store)(nil)

// Open connects to the database named by uri, creates MLflow's schema in an
// empty database, and refuses a database at any other schema revision.
func Open(ctx context.Context, uri string, opts Options) (*Store, error) {
	target, err := parseURI(uri)
	if err != nil {
		return nil, err
	}
	root := opts.DefaultArtifactRoot
	if root == "" {
		root = "./mlruns"
	}
	root, err = resolveURIIfLocal(root)
	if err != nil {
		return nil, fmt.Errorf("resolve default artifact root: %w", err)
	}
	s := &Store{d: target.dialect, root: root, now: opts.Now, log: opts.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	switch target.dialect {
	case dialectSQLite:
		if err := s.openSQLite(target.path); err != nil {
			return nil, err
		}
	case dialectPostgres:
		db, err := sql.Open("pgx", target.pgURL)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", redactURI(uri), err)
		}
		db.SetMaxOpenConns(max(8, 4*runtime.GOMAXPROCS(0)))
		db.SetMaxIdleConns(max(8, 4*runtime.GOMAXPROCS(0)))
		db.SetConnMaxIdleTime(5 * time.Minute)
		s.w, s.r = db, db
	}
	if err := s.w.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to %s: %w", redactURI(uri), err)
	}
	if err := s.initSchema(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) openSQLite(path string) error {
	w, err := openSQLiteDB(path, false)
	if err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s.w, s.r = w, w
	if path == ":memory:" {
		return nil // a second pool would see a different, empty database
	}
	r, err := openSQLiteDB(path, true)
	if err != nil {
		w.Close()
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s.r = r
	return nil
}

// Close closes both pools; database/sql lets in-flight calls finish.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil && s.r != s.w {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	return errors.Join(errs...)
}

// initSchema creates the schema in an empty database, or checks the revision
// of an existing one.
func (s *Store) initSchema(ctx context.Context) error {
	exists, err := s.tableExists(ctx, "alembic_version")
	if err != nil {
		return fmt.Errorf("inspect schema: %w", err)
	}
	if exists {
		return s.checkRevision(ctx)
	}
	expExists, err := s.tableExists(ctx, "experiments")
	if err != nil {
		return fmt.Errorf("inspect schema: %w", err)
	}
	if expExists {
		return fmt.Errorf("database has MLflow tables but no alembic_version table; it was not created by MLflow 3.18.0 (expected revision %s)", SchemaRevision)
	}
	file := "schema/sqlite.sql"
	if s.d == dialectPostgres {
		file = "schema/postgres.sql"
	}
	ddl, err := schemaFS.ReadFile(file)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, string(ddl)); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.rebind("INSERT INTO alembic_version (version_num) VALUES (?)"), SchemaRevision); err != nil {
			return fmt.Errorf("stamp schema: %w", err)
		}
		now := s.nowMillis()
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO experiments
			(experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time, workspace)
			VALUES (?, ?, ?, ?, ?, ?, ?)`),
			0, "Default", appendToURIPath(s.root, "0"), tracking.LifecycleActive, now, now, defaultWorkspace)
		if err != nil {
			return fmt.Errorf("create default experiment: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Info("created MLflow schema", "dialect", s.d.String(), "revision", SchemaRevision)
	return nil
}

func (s *Store) checkRevision(ctx context.Context) error {
	var rev string
	err := s.r.QueryRowContext(ctx, "SELECT version_num FROM alembic_version").Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		rev = "none"
	} else if err != nil {
		return fmt.Errorf("read schema revision: %w", err)
	}
	if rev != SchemaRevision {
		return fmt.Errorf("Detected out-of-date database schema (found version %s, but expected %s). "+
			"mltrack never migrates: upgrade the database with `mlflow db upgrade <uri>` from MLflow 3.18.0 first", rev, SchemaRevision)
	}
	return nil
}

func (s *Store) tableExists(ctx context.Context, name string) (bool, error) {
	var q string
	if s.d == dialectSQLite {
		q = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	} else {
		q = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
	}
	var n int
	if err := s.w.QueryRowContext(ctx, s.rebind(q), name).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

func (s *Store) nowMillis() int64 { return s.now().UnixMilli() }

// rebind turns the ? placeholders every query is written with into $n for
// PostgreSQL. Queries never contain a literal '?', so a plain scan suffices.
func (s *Store) rebind(q string) string {
	if s.d != dialectPostgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// inTx runs fn in a write transaction, committing if fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// placeholders returns "(?, ?, ?), (?, ?, ?)" for rows rows of cols columns.
func placeholders(rows, cols int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

// boolLit is a boolean SQL literal for the dialect (SQLite stores 0/1).
func (s *Store) boolLit(b bool) string {
	if s.d == dialectPostgres {
		if b {
			return "true"
		}
		return "false"
	}
	if b {
		return "1"
	}
	return "0"
}
