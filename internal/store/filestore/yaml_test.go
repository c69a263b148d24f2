package filestore

import (
	"encoding/json"
	"os"
	"testing"
)

// TestEmitYAMLMatchesPyYAML compares the emitter with output PyYAML's
// CSafeDumper produced (testdata/pyyaml_golden.json, made by MLflow 3.18.0's
// environment) for awkward strings as a value and as a nested key.
func TestEmitYAMLMatchesPyYAML(t *testing.T) {
	raw, err := os.ReadFile("testdata/pyyaml_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ In, Value, Key string }
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if got := string(emitYAML([]yamlField{{"name", c.In}})); got != c.Value {
			t.Errorf("value %q:\n got %q\nwant %q", c.In, got, c.Value)
		}
		tags := map[string]string{}
		if c.In != "" {
			tags[c.In] = "v"
		}
		if got := string(emitYAML([]yamlField{{"tags", tags}})); got != c.Key {
			t.Errorf("key %q:\n got %q\nwant %q", c.In, got, c.Key)
		}
	}
}

// TestYAMLReadBack reads every golden string back from the emitted YAML: the
// reader must apply PyYAML's YAML 1.1 rules (a plain 1e3 is a string).
func TestYAMLReadBack(t *testing.T) {
	raw, err := os.ReadFile("testdata/pyyaml_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ In string }
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	extra := []string{"00000000000000000000000000000029", "1e3", "0o17", "e22c46421d45462491eb700c24216395"}
	for _, c := range cases {
		extra = append(extra, c.In)
	}
	dir := t.TempDir()
	for i, s := range extra {
		path := dir + "/m.yaml"
		data := emitYAML([]yamlField{{"name", s}, {"n", int64(i)}, {"z", yamlNull{}}})
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := readYAMLMap(path)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if m["name"] != s || m["n"] != int64(i) || m["z"] != nil {
			t.Errorf("%q read back as %#v", s, m)
		}
	}
}
