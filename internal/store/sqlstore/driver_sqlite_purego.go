//go:build !cgo

package sqlstore

import (
	"database/sql"
	"net/url"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// openSQLiteDB opens a pool on the database file with modernc.org/sqlite, for
// builds without cgo (cross-compiled or fully static binaries).
func openSQLiteDB(path string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range sqlitePragmas(readOnly) {
		q.Add("_pragma", p.name+"("+p.value+")")
	}
	if !readOnly {
		// BEGIN IMMEDIATE takes the write lock up front, so a transaction that
		// reads then writes never fails with SQLITE_BUSY on lock upgrade.
		q.Set("_txlock", "immediate")
	}
	return sql.Open("sqlite", sqliteFileURI(path)+"?"+q.Encode())
}
