package sqlstore

import (
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Everything that names the SQLite driver lives in this file, so a benchmark
// can swap in a cgo driver (e.g. mattn/go-sqlite3: driver "sqlite3", pragmas
// as _busy_timeout=... DSN keys) by editing only this file.

const sqliteDriverName = "sqlite"

// sqliteMaxVariables is SQLITE_MAX_VARIABLE_NUMBER of the linked library
// (32766 since SQLite 3.32); it bounds rows per multi-row INSERT.
const sqliteMaxVariables = 32766

// sqliteDSN returns the DSN for a database file. Every connection gets the
// same pragmas: WAL so readers never block the writer, a busy timeout so a
// second process waits instead of failing, foreign keys as MLflow enables
// them, and case-sensitive LIKE as MLflow sets it (ILIKE is lower() LIKE lower()).
func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"busy_timeout(20000)",
		"foreign_keys(1)",
		"case_sensitive_like(1)",
		// WAL makes NORMAL durable against application crashes; only an OS
		// crash can lose the last commits, never corrupt the file.
		"synchronous(NORMAL)",
		// A bigger page cache and mmap'd reads keep search from re-reading the
		// same pages through syscalls.
		"cache_size(-65536)",
		"mmap_size(268435456)",
		"temp_store(MEMORY)",
	} {
		q.Add("_pragma", p)
	}
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		// BEGIN IMMEDIATE takes the write lock up front, so a transaction that
		// reads then writes never fails with SQLITE_BUSY on lock upgrade.
		q.Set("_txlock", "immediate")
	}
	// A file: URI decodes %XX and ends the path at ? or #, so escape those.
	path = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + path + "?" + q.Encode()
}
