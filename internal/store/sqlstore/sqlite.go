package sqlstore

import "strings"

// The SQLite driver is chosen at build time (docs/decisions/0002): the cgo
// driver mattn/go-sqlite3 in driver_sqlite_cgo.go when cgo is on, the pure-Go
// modernc.org/sqlite in driver_sqlite_purego.go when CGO_ENABLED=0. Both give
// every connection the pragmas below and expose openSQLiteDB.

// sqliteMaxVariables is SQLITE_MAX_VARIABLE_NUMBER of both linked libraries
// (32766 since SQLite 3.32); it bounds rows per multi-row INSERT.
const sqliteMaxVariables = 32766

type sqlitePragma struct{ name, value string }

// sqlitePragmas are set on every connection, in this order: WAL so readers
// never block the writer, a busy timeout so a second process waits instead of
// failing, foreign keys as MLflow enables them, and case-sensitive LIKE as
// MLflow sets it (ILIKE is lower() LIKE lower()).
func sqlitePragmas(readOnly bool) []sqlitePragma {
	ps := []sqlitePragma{
		{"journal_mode", "WAL"},
		{"busy_timeout", "20000"},
		{"foreign_keys", "1"},
		{"case_sensitive_like", "1"},
		// WAL makes NORMAL durable against application crashes; only an OS
		// crash can lose the last commits, never corrupt the file.
		{"synchronous", "NORMAL"},
		// The page cache is per connection and counts in the server's RSS,
		// which must stay small (one writer and a few readers): 16 MiB for the
		// writer, whose batches touch the most pages, 8 MiB per reader. No
		// mmap: mapped pages count in RSS too, and the OS page cache already
		// keeps the file in memory.
		{"cache_size", "-16384"},
		{"temp_store", "MEMORY"},
	}
	if readOnly {
		ps[len(ps)-2] = sqlitePragma{"cache_size", "-8192"}
		ps = append(ps, sqlitePragma{"query_only", "1"})
	}
	return ps
}

// sqliteFileURI makes a file: URI of a path. A file: URI decodes %XX and
// ends the path at ? or #, so those are escaped.
func sqliteFileURI(path string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}
