package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3 is a Repository in an S3-compatible bucket under a key prefix. Keys
// are prefix + a CleanPath result, so no request can name a key outside the
// prefix.
type S3 struct {
	client   *s3.Client
	uploader *manager.Uploader
	bucket   string
	prefix   string // "" or "a/b/" (with the trailing slash)
}

// S3Options configures OpenS3 beyond the standard AWS environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_PROFILE, ...).
type S3Options struct {
	// Endpoint is a custom S3 endpoint (MinIO, Ceph, versitygw): MLflow's
	// MLFLOW_S3_ENDPOINT_URL. Empty uses AWS, or AWS_ENDPOINT_URL_S3.
	Endpoint string
}

// upload tuning: parts of 8 MiB, two in flight, bound the memory an upload
// of any size holds.
const (
	s3PartSize    = 8 << 20
	s3Concurrency = 2
)

// OpenS3 opens s3://bucket/prefix.
func OpenS3(ctx context.Context, uri string, opts S3Options) (*S3, error) {
	bucket, prefix, err := ParseS3URI(uri)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
			// Self-hosted services rarely have per-bucket DNS names.
			o.UsePathStyle = true
		}
	})
	up := manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = s3PartSize
		u.Concurrency = s3Concurrency
	})
	return &S3{client: client, uploader: up, bucket: bucket, prefix: prefix}, nil
}

// ParseS3URI splits s3://bucket/prefix; the prefix passes CleanPath.
func ParseS3URI(uri string) (bucket, prefix string, err error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("%q is not an s3://bucket/prefix URI", uri)
	}
	p, err := CleanPath(strings.TrimPrefix(u.Path, "/"))
	if err != nil {
		return "", "", fmt.Errorf("%q: the prefix is not a safe path", uri)
	}
	if p != "" {
		p += "/"
	}
	return u.Host, p, nil
}

func (s *S3) key(p string) string { return s.prefix + p }

// Put streams r as a multipart upload; S3 makes the object visible only
// when it completes.
func (s *S3) Put(ctx context.Context, p string, r io.Reader) error {
	if p == "" {
		return ErrInvalidPath
	}
	_, err := s.uploader.Upload(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(p)), Body: r})
	if err != nil {
		return fmt.Errorf("s3 put: %w", err)
	}
	return nil
}

// Open starts a GET; a key missing as an object but present as a prefix
// is a directory.
func (s *S3) Open(ctx context.Context, p string) (Object, Stat, error) {
	if p == "" {
		return nil, Stat{}, ErrIsDir
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(p))})
	if err != nil {
		if isNotFound(err) {
			if infos, lerr := s.List(ctx, p); lerr == nil && len(infos) > 0 {
				return nil, Stat{}, ErrIsDir
			}
			return nil, Stat{}, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return nil, Stat{}, fmt.Errorf("s3 get: %w", err)
	}
	st := Stat{Size: aws.ToInt64(out.ContentLength)}
	if out.LastModified != nil {
		st.ModTime = *out.LastModified
	}
	return out.Body, st, nil
}

// List lists one level under p using the "/" delimiter.
func (s *S3) List(ctx context.Context, p string) ([]FileInfo, error) {
	dir := s.prefix
	if p != "" {
		dir = s.key(p) + "/"
	}
	var out []FileInfo
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: &s.bucket, Prefix: aws.String(dir), Delimiter: aws.String("/"),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3 list: %w", err)
		}
		for _, cp := range page.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), dir), "/")
			if name != "" {
				out = append(out, FileInfo{Path: Join(p, name), IsDir: true})
			}
		}
		for _, obj := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(obj.Key), dir)
			if name == "" {
				continue // a "directory marker" object
			}
			out = append(out, FileInfo{Path: Join(p, name), Size: aws.ToInt64(obj.Size)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Delete removes the object at p and every object under p/.
func (s *S3) Delete(ctx context.Context, p string) error {
	var keys []types.ObjectIdentifier
	if p != "" {
		keys = append(keys, types.ObjectIdentifier{Key: aws.String(s.key(p))})
	}
	dir := s.prefix
	if p != "" {
		dir = s.key(p) + "/"
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(dir)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("s3 delete: %w", err)
		}
		for _, obj := range page.Contents {
			keys = append(keys, types.ObjectIdentifier{Key: obj.Key})
		}
	}
	for len(keys) > 0 {
		n := min(len(keys), 1000) // DeleteObjects' limit
		_, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &s.bucket, Delete: &types.Delete{Objects: keys[:n], Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("s3 delete: %w", err)
		}
		keys = keys[n:]
	}
	return nil
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchKey")
}
