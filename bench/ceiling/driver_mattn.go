//go:build mattn

package main

import _ "github.com/mattn/go-sqlite3"

func init() {
	drivers["mattn"] = driverInfo{sqlName: "sqlite3", dsn: func(p string) string { return "file:" + p }}
}
