package main

import (
	"io"
	"strings"
	"testing"
)

func TestArtifactFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		serve   bool
		only    bool
		dest    string
		wantErr string
	}{
		{name: "defaults", serve: true, dest: "./mlartifacts"},
		{name: "destination flag", args: []string{"--artifacts-destination", "/srv/art"}, serve: true, dest: "/srv/art"},
		{name: "destination env", env: map[string]string{"MLFLOW_ARTIFACTS_DESTINATION": "/srv/env"}, serve: true, dest: "/srv/env"},
		{name: "file uri", args: []string{"--artifacts-destination", "file:///srv/art"}, serve: true, dest: "file:///srv/art"},
		{name: "no-serve", args: []string{"--no-serve-artifacts"}, dest: "./mlartifacts"},
		{name: "serve=false", args: []string{"--serve-artifacts=false"}, dest: "./mlartifacts"},
		{name: "serve env off", env: map[string]string{"MLFLOW_SERVE_ARTIFACTS": "false"}, dest: "./mlartifacts"},
		{name: "flag beats env", args: []string{"--serve-artifacts"}, env: map[string]string{"MLFLOW_SERVE_ARTIFACTS": "0"}, serve: true, dest: "./mlartifacts"},
		{name: "artifacts-only", args: []string{"--artifacts-only"}, serve: true, only: true, dest: "./mlartifacts"},
		{name: "artifacts-only env", env: map[string]string{"MLFLOW_ARTIFACTS_ONLY": "true"}, serve: true, only: true, dest: "./mlartifacts"},
		{name: "bad bool env", env: map[string]string{"MLFLOW_SERVE_ARTIFACTS": "maybe"}, wantErr: `MLFLOW_SERVE_ARTIFACTS="maybe" is not a boolean`},
		{name: "only without serving", args: []string{"--artifacts-only", "--no-serve-artifacts"}, wantErr: "--artifacts-only needs the artifact proxy"},
		{name: "s3", args: []string{"--artifacts-destination", "s3://b/p"}, serve: true, dest: "s3://b/p"},
		{name: "s3 bad prefix", args: []string{"--artifacts-destination", "s3://b/../p"}, wantErr: "not a safe path"},
		{name: "gs not supported", args: []string{"--artifacts-destination", "gs://b/p"}, wantErr: "gs:// is not supported"},
		{name: "file uri with host", args: []string{"--artifacts-destination", "file://host/x"}, wantErr: "needs an absolute path and no host"},
		{name: "no-serve ignores s3", args: []string{"--no-serve-artifacts", "--artifacts-destination", "s3://b/p"}, dest: "s3://b/p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseServerConfig("server", tt.args, envFrom(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ServeArtifacts != tt.serve || c.ArtifactsOnly != tt.only || c.ArtifactsDestination != tt.dest {
				t.Errorf("serve %v only %v dest %q; want %v %v %q", c.ServeArtifacts, c.ArtifactsOnly, c.ArtifactsDestination, tt.serve, tt.only, tt.dest)
			}
		})
	}
}
