package tracking

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

func TestPageToken(t *testing.T) {
	if got := EncodePageToken(2); got != "eyJvZmZzZXQiOiAyfQ==" { // MLflow's bytes exactly
		t.Errorf("EncodePageToken(2) = %s", got)
	}
	for _, n := range []int{1, 50, 123456} {
		if got, err := DecodePageToken(EncodePageToken(n)); err != nil || got != n {
			t.Errorf("round trip %d = %d, %v", n, got, err)
		}
	}
	bad := []struct{ token, msg string }{
		{"!!!", "Invalid page token, decoded value=b''"},
		{"abc", "Invalid page token, could not base64-decode"},
		{"bm90anNvbg==", "Invalid page token, decoded value=b'notjson'"},
		{"eyJmb28iOiAxfQ==", "Invalid page token, parsed value={'foo': 1}"},
		{"eyJvZmZzZXQiOiAieCJ9", "Invalid page token, not stringable x"},
		{"eyJvZmZzZXQiOiAtMX0=", "Invalid page token, offset must be non-negative, got -1"},
	}
	for _, b := range bad {
		_, err := DecodePageToken(b.token)
		if Code(err) != ErrInvalidParameterValue || !strings.Contains(err.Error(), b.msg) {
			t.Errorf("DecodePageToken(%q) = %v, want %q", b.token, err, b.msg)
		}
	}
	if n, err := DecodePageToken(""); n != 0 || err != nil {
		t.Errorf("empty token = %d, %v", n, err)
	}
}

func TestGenerateRunName(t *testing.T) {
	re := regexp.MustCompile(`^[a-z]+-[a-z]+-\d{1,3}$`)
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		name := GenerateRunName(r)
		if len(name) > 20 || !re.MatchString(name) {
			t.Fatalf("bad name %q", name)
		}
	}
}

func TestValidateKeyName(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{"loss", true}, {"a/b", true}, {"a b:c-d.e_f", true}, {"ü", true},
		{"a!b", false}, {"../x", false}, {"/abs", false}, {".", false}, {"a//b", false}, {"a/", false}, {"", false},
	}
	for _, tt := range tests {
		if err := ValidateKeyName(tt.key, "key"); (err == nil) != tt.ok {
			t.Errorf("ValidateKeyName(%q) = %v", tt.key, err)
		}
	}
}

func TestValidateLimits(t *testing.T) {
	p, err := ValidateParam(Param{Key: "k", Value: strings.Repeat("v", 7000)}, "")
	if err != nil || len(p.Value) != MaxParamValueLength {
		t.Errorf("long param value: %d, %v (MLflow's server truncates)", len(p.Value), err)
	}
	tag, err := ValidateRunTag(Tag{Key: "k", Value: strings.Repeat("v", 9000)}, "")
	if err != nil || len(tag.Value) != MaxTagValueLength {
		t.Errorf("long tag value: %d, %v", len(tag.Value), err)
	}
	if err := ValidateExperimentTag(Tag{Key: "k", Value: strings.Repeat("v", 20001)}); err == nil {
		t.Error("experiment tag over 20000 characters accepted")
	}
	if err := ValidateExperimentName(strings.Repeat("n", 501)); err == nil {
		t.Error("experiment name over 500 characters accepted")
	}
	if err := ValidateBatchLimits(1000, 0, 0); err != nil {
		t.Error(err)
	}
	if err := ValidateBatchLimits(0, 0, 101); err == nil || !strings.Contains(err.Error(), "at most 100 tags. Got 101 tags.") {
		t.Error(err)
	}
	err = ValidateParamKeysUnique([]Param{{Key: "a"}, {Key: "b"}, {Key: "a"}})
	if err == nil || !strings.Contains(err.Error(), "submitted: ['a']") {
		t.Error(err)
	}
	for _, n := range []int64{0, -1, 50001} {
		if ValidateSearchMaxResults(n) == nil {
			t.Errorf("max_results %d accepted", n)
		}
	}
}

func TestSampleEvenly(t *testing.T) {
	seq := func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	tests := []struct {
		n, k int
		want []int
	}{
		{0, 5, nil},
		{3, 5, []int{0, 1, 2}},
		{10, 1, []int{9}},
		{10, 2, []int{0, 9}},
		{10, 3, []int{0, 4, 9}},    // NTILE(3) over 10: buckets 4,3,3 -> starts 0,4,7; last replaced
		{10, 4, []int{0, 3, 6, 9}}, // buckets 3,3,2,2 -> starts 0,3,6,8; last replaced
		{5, 4, []int{0, 2, 3, 4}},  // buckets 2,1,1,1 -> 0,2,3,4
	}
	for _, tt := range tests {
		got := SampleEvenly(seq(tt.n), tt.k)
		if len(got) != len(tt.want) {
			t.Errorf("SampleEvenly(%d, %d) = %v, want %v", tt.n, tt.k, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("SampleEvenly(%d, %d) = %v, want %v", tt.n, tt.k, got, tt.want)
				break
			}
		}
	}
}
