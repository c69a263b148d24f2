// Command sdk measures the Go SDK's logging throughput into a live
// MLflow-compatible server: one run, metric points logged one at a time with
// ActiveRun.LogMetric (the SDK batches them in the background into log-batch
// calls), timed from the first LogMetric to the return of End, which flushes.
//
//	sdk --url http://127.0.0.1:5000 --points 100000 --keys 10
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mltrack/mltrack/client"
)

func main() {
	url := flag.String("url", "", "tracking server URL")
	points := flag.Int("points", 100000, "metric points to log")
	keys := flag.Int("keys", 10, "distinct metric keys (points are spread over them)")
	flag.Parse()
	if *url == "" || *points <= 0 || *keys <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx := context.Background()
	c, err := client.New(client.WithTrackingURI(*url))
	if err != nil {
		log.Fatal(err)
	}
	run, err := c.StartRun(ctx, client.InExperiment(fmt.Sprintf("bench-sdk-%d", time.Now().UnixNano())))
	if err != nil {
		log.Fatal(err)
	}
	names := make([]string, *keys)
	for i := range names {
		names[i] = fmt.Sprintf("m%d", i)
	}
	start := time.Now()
	for i := 0; i < *points; i++ {
		if err := run.LogMetric(ctx, names[i%*keys], float64(i)*0.001, int64(i / *keys)); err != nil {
			log.Fatal(err)
		}
	}
	if err := run.End(ctx, client.StatusFinished); err != nil {
		log.Fatal(err)
	}
	elapsed := time.Since(start)
	fmt.Printf("sdk_points_per_s %.0f\n", float64(*points)/elapsed.Seconds())
	fmt.Printf("sdk_seconds %.3f\n", elapsed.Seconds())
}
