package sqlstore

import (
	"fmt"
	"strings"
)

type dialect int

const (
	dialectSQLite dialect = iota + 1
	dialectPostgres
)

func (d dialect) String() string {
	if d == dialectPostgres {
		return "postgresql"
	}
	return "sqlite"
}

// dbTarget is a parsed database URI.
type dbTarget struct {
	dialect dialect
	path    string // SQLite file path (may be ":memory:")
	pgURL   string // libpq-style URL pgx understands
}

// parseURI accepts the database URIs MLflow (SQLAlchemy) accepts for the two
// supported dialects: sqlite:///relative.db, sqlite:////abs.db, sqlite://
// (in memory), postgresql://, postgresql+<driver>://, postgres://.
func parseURI(uri string) (dbTarget, error) {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return dbTarget{}, fmt.Errorf("invalid database URI %q: supported schemes are sqlite:/// and postgresql://", redactURI(uri))
	}
	base, _, _ := strings.Cut(strings.ToLower(scheme), "+")
	switch base {
	case "sqlite":
		// SQLAlchemy: sqlite:// is in-memory; sqlite:///x is the relative
		// path x; sqlite:////x is the absolute path /x.
		if rest == "" {
			return dbTarget{dialect: dialectSQLite, path: ":memory:"}, nil
		}
		if !strings.HasPrefix(rest, "/") {
			return dbTarget{}, fmt.Errorf("invalid SQLite URI %q: use sqlite:///relative/path.db or sqlite:////absolute/path.db", uri)
		}
		path, _, _ := strings.Cut(rest[1:], "?")
		if path == "" {
			return dbTarget{}, fmt.Errorf("invalid SQLite URI %q: no database path", uri)
		}
		return dbTarget{dialect: dialectSQLite, path: path}, nil
	case "postgresql", "postgres":
		return dbTarget{dialect: dialectPostgres, pgURL: "postgresql://" + rest}, nil
	}
	return dbTarget{}, fmt.Errorf("unsupported database URI scheme %q: supported schemes are sqlite:/// and postgresql:// (also postgres://, postgresql+psycopg2://)", scheme)
}

// redactURI hides a password so URIs can go into errors and logs.
func redactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return uri
	}
	userinfo := rest[:at]
	if user, _, hasPw := strings.Cut(userinfo, ":"); hasPw {
		return scheme + "://" + user + ":xxxxx" + rest[at:]
	}
	return uri
}
