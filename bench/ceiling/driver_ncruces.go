//go:build !mattn

package main

import _ "github.com/ncruces/go-sqlite3/driver"

func init() {
	drivers["ncruces"] = driverInfo{sqlName: "sqlite3", dsn: func(p string) string { return "file:" + p }}
}
