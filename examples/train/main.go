// Command train is mltrack's demo trainer: the Go version of the classic
// "MLflow in 60 seconds" script. It makes a noisy toy regression problem,
// fits a one-hidden-layer network with GoMLX (automatic differentiation on
// the pure-Go simplego backend; build with -tags noxla), and logs params,
// per-epoch loss and val_loss, the trained weights and a loss plot to an
// MLflow-compatible tracking server through mltrack's Go SDK.
//
//	MLFLOW_TRACKING_URI=http://127.0.0.1:5000 go run -tags noxla . --lr 0.1 --hidden 16
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/mltrack/mltrack/client"
)

type config struct {
	lr         float64
	hidden     int
	epochs     int
	seed       uint64
	experiment string
	runName    string
	outDir     string
	quiet      bool
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	var c config
	fs.Float64Var(&c.lr, "lr", 0.1, "learning rate of plain gradient descent")
	fs.IntVar(&c.hidden, "hidden", 16, "neurons in the hidden layer")
	fs.IntVar(&c.epochs, "epochs", 300, "full-batch training epochs")
	fs.Uint64Var(&c.seed, "seed", 0, "seed for data and initial weights (0: pick one from the clock and log it)")
	defExp := os.Getenv("MLFLOW_EXPERIMENT_NAME")
	if defExp == "" {
		defExp = "mltrack-demo"
	}
	fs.StringVar(&c.experiment, "experiment", defExp, "experiment name (created if missing; default $MLFLOW_EXPERIMENT_NAME or mltrack-demo)")
	fs.StringVar(&c.runName, "run-name", "", "run name (default lr=<lr>,hidden=<hidden>)")
	fs.StringVar(&c.outDir, "out", "", "directory for the weights and plot files (default: a temporary directory)")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.lr <= 0:
		return c, fmt.Errorf("--lr must be > 0, got %v", c.lr)
	case c.hidden < 1:
		return c, fmt.Errorf("--hidden must be >= 1, got %d", c.hidden)
	case c.epochs < 1:
		return c, fmt.Errorf("--epochs must be >= 1, got %d", c.epochs)
	}
	if c.seed == 0 {
		c.seed = uint64(time.Now().UnixNano())
	}
	if c.runName == "" {
		c.runName = fmt.Sprintf("lr=%g,hidden=%d", c.lr, c.hidden)
	}
	return c, nil
}

func run(ctx context.Context, cfg config, log *slog.Logger) (err error) {
	c, err := client.New(client.WithLogger(log))
	if err != nil {
		return err
	}
	r, err := c.StartRun(ctx, client.InExperiment(cfg.experiment), client.WithRunName(cfg.runName))
	if err != nil {
		return fmt.Errorf("start run at %s: %w", c.TrackingURI(), err)
	}
	defer func() {
		status := client.StatusFinished
		if err != nil {
			status = client.StatusFailed
			if ctx.Err() != nil {
				status = client.StatusKilled
			}
		}
		// End must reach the server even when ctx was interrupted.
		endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		err = errors.Join(err, r.End(endCtx, status))
	}()
	if err := r.LogParams(ctx, map[string]string{
		"lr":     strconv.FormatFloat(cfg.lr, 'g', -1, 64),
		"hidden": strconv.Itoa(cfg.hidden),
		"epochs": strconv.Itoa(cfg.epochs),
		"seed":   strconv.FormatUint(cfg.seed, 10),
	}); err != nil {
		return err
	}

	data := makeData(cfg.seed, 400, 0.2)
	model, err := newModel(cfg.hidden, cfg.seed)
	if err != nil {
		return err
	}
	var bar *progressbar.ProgressBar
	if !cfg.quiet {
		bar = progressbar.NewOptions(cfg.epochs,
			progressbar.OptionSetDescription(cfg.runName),
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond))
	}
	history := lossHistory{}
	for epoch := range cfg.epochs {
		if err := ctx.Err(); err != nil {
			return err
		}
		loss, err := model.trainStep(data.trainX, data.trainY, cfg.lr)
		if err != nil {
			return fmt.Errorf("epoch %d: %w", epoch, err)
		}
		val, err := model.loss(data.valX, data.valY)
		if err != nil {
			return fmt.Errorf("epoch %d: %w", epoch, err)
		}
		history.train = append(history.train, loss)
		history.val = append(history.val, val)
		if err := r.LogMetrics(ctx, map[string]float64{"loss": loss, "val_loss": val}, int64(epoch)); err != nil {
			return err
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			// Too large a learning rate: the logged NaN/Inf shows where, and
			// the run ends FAILED.
			return fmt.Errorf("training diverged at epoch %d (loss %v); try a smaller --lr", epoch, loss)
		}
		if bar != nil {
			bar.Describe(fmt.Sprintf("%s loss %.4f val %.4f", cfg.runName, loss, val))
			_ = bar.Add(1)
		}
	}
	if bar != nil {
		_ = bar.Finish()
	}
	fmt.Printf("%s: loss %.4f  val_loss %.4f  run %s\n", cfg.runName, history.train[len(history.train)-1], history.val[len(history.val)-1], r.ID())

	outDir := cfg.outDir
	if outDir == "" {
		outDir, err = os.MkdirTemp("", "mltrack-train-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(outDir)
	} else if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	weights := filepath.Join(outDir, "weights.json")
	if err := model.save(weights); err != nil {
		return err
	}
	plot := filepath.Join(outDir, "loss.png")
	if err := history.plot(plot, cfg.runName); err != nil {
		return err
	}
	// Artifacts are a bonus for the demo: a server that cannot store them
	// (no artifact proxy yet, or a non-proxied artifact root) must not lose
	// the run, so failures are warnings.
	for _, f := range []string{weights, plot} {
		if err := r.LogArtifact(ctx, f, ""); err != nil {
			fmt.Fprintf(os.Stderr, "train: warning: artifacts not uploaded (does the server serve mlflow-artifacts?): %v\n", err)
			break // the next file would fail the same way
		}
	}
	return nil
}
