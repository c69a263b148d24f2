package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mltrack/mltrack/internal/tracking"
)

// BenchmarkLogBatchHandler measures the server side of a 1000-metric
// log-batch request (decode, validate, store on SQLite, respond), without a
// network or a client, so the gap to the store's own LogBatch benchmark is
// the HTTP layer's cost.
func BenchmarkLogBatchHandler(b *testing.B) {
	store := openTestStore(b)
	svc := tracking.NewService(store, tracking.ServiceOptions{})
	defer svc.Close()
	h := New(Options{Service: svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "bench"})
	run, err := store.CreateRun(context.Background(), tracking.NewRun{ExperimentID: "0", StartTime: 1, RunName: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	body := func(i int) string {
		var sb strings.Builder
		fmt.Fprintf(&sb, `{"run_id":%q,"metrics":[`, run.Info.RunID)
		for j := 0; j < 1000; j++ {
			if j > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"key":"m%d","value":%g,"timestamp":%d,"step":%d}`, j%10, float64(j)*0.5, 1700000000000+i, i*100+j/10)
		}
		sb.WriteString("]}")
		return sb.String()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer() // building the request is the client's work
		req := httptest.NewRequest(http.MethodPost, "/api/2.0/mlflow/runs/log-batch", strings.NewReader(body(i)))
		req.Header.Set("Content-Type", "application/json")
		req.Host = "127.0.0.1"
		rec := httptest.NewRecorder()
		b.StartTimer()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "points/s")
}
