// Command ceiling measures how fast a SQLite driver can put metric rows into
// MLflow's `metrics` table with the best batching SQLite allows: WAL,
// synchronous=NORMAL, one transaction per --tx rows, multi-row INSERTs of
// --per-insert rows through a prepared statement. No server, no JSON: this is
// the ceiling a tracking server on that driver can approach.
//
//	go run ./ceiling --driver modernc                # pure Go, modernc.org/sqlite
//	go run ./ceiling --driver ncruces                # wasm, github.com/ncruces/go-sqlite3
//	go run -tags mattn ./ceiling --driver mattn      # cgo, github.com/mattn/go-sqlite3
//
// mattn and ncruces both register the database/sql name "sqlite3", so mattn
// is built only with -tags mattn, which leaves ncruces out.
package main

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

//go:embed schema.sql
var schemaSQL string

// drivers maps a --driver name to its database/sql driver name and DSN
// options; driver_*.go files fill it in according to build tags.
var drivers = map[string]driverInfo{}

type driverInfo struct {
	sqlName string
	dsn     func(path string) string
}

type config struct {
	driver    string
	rows      int
	txRows    int
	perInsert int
	dbPath    string
	fromDB    string
}

func main() {
	var c config
	flag.StringVar(&c.driver, "driver", "modernc", "SQLite driver: "+strings.Join(driverNames(), ", "))
	flag.IntVar(&c.rows, "rows", 1_000_000, "metric rows to insert")
	flag.IntVar(&c.txRows, "tx", 50_000, "rows per transaction")
	flag.IntVar(&c.perInsert, "per-insert", 500, "rows per multi-row INSERT statement (6 parameters each)")
	flag.StringVar(&c.dbPath, "db", "", "database file to create (default: a new temporary file, removed afterwards)")
	flag.StringVar(&c.fromDB, "from-db", "", "start from a copy of this database created by real MLflow instead of the embedded schema")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(context.Background(), c); err != nil {
		log.Error("ceiling failed", "err", err)
		os.Exit(1)
	}
}

func driverNames() []string {
	var names []string
	for n := range drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func run(ctx context.Context, c config) error {
	d, ok := drivers[c.driver]
	if !ok {
		hint := ""
		if c.driver == "mattn" {
			hint = " (build with -tags mattn)"
		}
		return fmt.Errorf("driver %q is not in this build%s; have %v", c.driver, hint, driverNames())
	}
	if c.rows <= 0 || c.txRows <= 0 || c.perInsert <= 0 {
		return errors.New("--rows, --tx and --per-insert must be positive")
	}
	path := c.dbPath
	if path == "" {
		dir, err := os.MkdirTemp("", "ceiling-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "mlflow.db")
	}
	if c.fromDB != "" {
		if err := copyFile(c.fromDB, path); err != nil {
			return fmt.Errorf("copy --from-db: %w", err)
		}
	}

	db, err := sql.Open(d.sqlName, d.dsn(path))
	if err != nil {
		return err
	}
	defer db.Close()
	// One connection: SQLite has one writer, and the pragmas below are per
	// connection.
	db.SetMaxOpenConns(1)
	for _, p := range []string{"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=5000"} {
		if _, err := db.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	if c.fromDB == "" {
		for _, stmt := range strings.Split(schemaSQL, ";") {
			if strings.TrimSpace(stripComments(stmt)) == "" {
				continue
			}
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("schema: %w", err)
			}
		}
	}
	runID, err := createRun(ctx, db)
	if err != nil {
		return err
	}

	start := time.Now()
	if err := insertMetrics(ctx, db, c, runID); err != nil {
		return err
	}
	elapsed := time.Since(start)

	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM metrics WHERE run_uuid = ?", runID).Scan(&n); err != nil {
		return err
	}
	if n != c.rows {
		return fmt.Errorf("inserted %d rows, counted %d", c.rows, n)
	}
	fmt.Printf("ceiling driver=%s rows=%d tx=%d per_insert=%d seconds=%.3f rows_per_sec=%.0f\n",
		c.driver, c.rows, c.txRows, c.perInsert, elapsed.Seconds(), float64(c.rows)/elapsed.Seconds())
	return nil
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func createRun(ctx context.Context, db *sql.DB) (string, error) {
	now := time.Now().UnixMilli()
	var expID int64
	err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(experiment_id), -1) + 1 FROM experiments").Scan(&expID)
	if err != nil {
		return "", err
	}
	_, err = db.ExecContext(ctx, `INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
		VALUES (?, ?, ?, 'active', ?, ?)`, expID, fmt.Sprintf("ceiling-%d", now), "/tmp/ceiling", now, now)
	if err != nil {
		return "", fmt.Errorf("insert experiment: %w", err)
	}
	runID := fmt.Sprintf("%032x", rand.Uint64())
	_, err = db.ExecContext(ctx, `INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,
		start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id)
		VALUES (?, 'ceiling', 'UNKNOWN', '', '', 'bench', 'RUNNING', ?, NULL, '', 'active', '/tmp/ceiling', ?)`, runID, now, expID)
	if err != nil {
		return "", fmt.Errorf("insert run: %w", err)
	}
	return runID, nil
}

// insertMetrics writes c.rows distinct metric points (10 keys, increasing
// steps) in transactions of c.txRows rows.
func insertMetrics(ctx context.Context, db *sql.DB, c config, runID string) error {
	insert := func(rows int) string {
		var b strings.Builder
		b.WriteString(`INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan) VALUES `)
		for i := range rows {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?,?,?,?,?,?)")
		}
		return b.String()
	}
	keys := make([]string, 10)
	for i := range keys {
		keys[i] = fmt.Sprintf("m%d", i)
	}
	ts := time.Now().UnixMilli()
	args := make([]any, 0, 6*c.perInsert)
	done := 0
	for done < c.rows {
		txRows := min(c.txRows, c.rows-done)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		full, err := tx.PrepareContext(ctx, insert(c.perInsert))
		if err != nil {
			tx.Rollback()
			return err
		}
		for txDone := 0; txDone < txRows; {
			n := min(c.perInsert, txRows-txDone)
			args = args[:0]
			for i := range n {
				row := done + txDone + i
				args = append(args, keys[row%10], float64(row)*0.001, ts+int64(row/1000), runID, int64(row/10), 0)
			}
			if n == c.perInsert {
				_, err = full.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, insert(n), args...)
			}
			if err != nil {
				tx.Rollback()
				return fmt.Errorf("insert: %w", err)
			}
			txDone += n
		}
		full.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
		done += txRows
	}
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
