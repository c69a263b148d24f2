package main

import _ "modernc.org/sqlite"

func init() {
	drivers["modernc"] = driverInfo{sqlName: "sqlite", dsn: func(p string) string { return "file:" + p }}
}
