package artifacts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestS3RoundTrip runs the repository behaviour against a real
// S3-compatible server: MLTRACK_TEST_S3_ENDPOINT (e.g. versitygw on
// loopback) with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. Without it the
// test skips, or fails when CI=true.
func TestS3RoundTrip(t *testing.T) {
	endpoint := os.Getenv("MLTRACK_TEST_S3_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MLTRACK_TEST_S3_ENDPOINT is not set")
		}
		t.Skip("MLTRACK_TEST_S3_ENDPOINT is not set")
	}
	ctx := context.Background()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	bucket := "mltrack-test-" + hex.EncodeToString(rnd[:])
	for _, prefix := range []string{"", "/some/prefix"} {
		repo, err := OpenS3(ctx, "s3://"+bucket+prefix, S3Options{Endpoint: endpoint})
		if err != nil {
			t.Fatal(err)
		}
		if prefix == "" {
			if _, err := repo.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
				t.Fatalf("create bucket: %v", err)
			}
		}
		t.Run("prefix="+prefix, func(t *testing.T) { testRepository(t, repo) })
		if err := repo.Delete(ctx, ""); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseS3URI(t *testing.T) {
	tests := []struct{ uri, bucket, prefix string }{
		{"s3://b", "b", ""},
		{"s3://b/", "b", ""},
		{"s3://b/p/q", "b", "p/q/"},
	}
	for _, tt := range tests {
		b, p, err := ParseS3URI(tt.uri)
		if err != nil || b != tt.bucket || p != tt.prefix {
			t.Errorf("ParseS3URI(%q) = %q %q %v", tt.uri, b, p, err)
		}
	}
	for _, bad := range []string{"s3:///p", "s3://b/../x", "s3://b/p?x=1", "s3://b/p#f", "file:///x", "s3://b/%2e%2e/x"} {
		if _, _, err := ParseS3URI(bad); err == nil {
			t.Errorf("ParseS3URI(%q) accepted", bad)
		}
	}
}
