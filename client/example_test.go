package client_test

import (
	"context"
	"errors"
	"log"

	"github.com/mltrack/mltrack/client"
)

// A training loop: the tracking server comes from MLFLOW_TRACKING_URI.
func Example() {
	ctx := context.Background()
	c, err := client.New()
	if err != nil {
		log.Fatal(err)
	}
	run, err := c.StartRun(ctx, client.InExperiment("demo"), client.WithRunName("lr=0.1"))
	if err != nil {
		log.Fatal(err)
	}
	status := client.StatusFinished
	defer func() {
		if err := run.End(ctx, status); err != nil {
			log.Print(err)
		}
	}()
	if err := run.LogParams(ctx, map[string]string{"lr": "0.1", "hidden": "16"}); err != nil {
		log.Fatal(err)
	}
	for epoch := range 100 {
		loss := 1 / float64(epoch+1)
		// Buffered; sent in log-batch calls in the background.
		if err := run.LogMetric(ctx, "loss", loss, int64(epoch)); err != nil {
			status = client.StatusFailed
			log.Print(err)
			return
		}
	}
	if err := run.LogArtifact(ctx, "weights.json", ""); err != nil {
		log.Print(err) // e.g. the server does not proxy artifacts
	}
}

// Sentinel errors work with errors.Is; *APIError has the details.
func ExampleAPIError() {
	ctx := context.Background()
	c, err := client.New(client.WithTrackingURI("http://127.0.0.1:5000"))
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.GetExperimentByName(ctx, "no such experiment")
	var apiErr *client.APIError
	switch {
	case errors.Is(err, client.ErrNotFound):
		log.Print("not there yet")
	case errors.As(err, &apiErr):
		log.Printf("server said %s (HTTP %d): %s", apiErr.ErrorCode, apiErr.StatusCode, apiErr.Message)
	}
}
