//go:build cgo

package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/mattn/go-sqlite3"
)

// openSQLiteDB opens a pool on the database file with mattn/go-sqlite3. The
// driver value is built here rather than registered by name, so no
// package-level registry holds our connect hook.
func openSQLiteDB(path string, readOnly bool) (*sql.DB, error) {
	pragmas := sqlitePragmas(readOnly)
	drv := &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		for _, p := range pragmas {
			if _, err := c.Exec("PRAGMA "+p.name+" = "+p.value, nil); err != nil {
				return fmt.Errorf("PRAGMA %s: %w", p.name, err)
			}
		}
		return nil
	}}
	dsn := sqliteFileURI(path)
	if !readOnly {
		// BEGIN IMMEDIATE takes the write lock up front, so a transaction that
		// reads then writes never fails with SQLITE_BUSY on lock upgrade.
		dsn += "?_txlock=immediate"
	}
	return sql.OpenDB(sqliteConnector{dsn: dsn, drv: drv}), nil
}

type sqliteConnector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c sqliteConnector) Driver() driver.Driver                        { return c.drv }
