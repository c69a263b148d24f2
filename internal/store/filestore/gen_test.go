package filestore

import (
	"os"
	"testing"
)

// TestGenerateForPeer writes the 10,000-run folder to $FILESTORE_GEN for the
// Python peer measurement (testdata/pycheck/search_peer.py).
func TestGenerateForPeer(t *testing.T) {
	dir := os.Getenv("FILESTORE_GEN")
	if dir == "" {
		t.Skip("set FILESTORE_GEN to a folder to generate into")
	}
	generateMlruns(t, dir, 10, 10000)
}
