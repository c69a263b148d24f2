package main

import (
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

type lossHistory struct{ train, val []float64 }

// plot draws training and validation loss per epoch into a PNG.
func (h lossHistory) plot(path, title string) error {
	p := plot.New()
	p.Title.Text = "loss: " + title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "mean squared error"
	line := func(v []float64) plotter.XYs {
		pts := make(plotter.XYs, len(v))
		for i, y := range v {
			pts[i] = plotter.XY{X: float64(i), Y: y}
		}
		return pts
	}
	if err := plotutil.AddLines(p, "loss", line(h.train), "val_loss", line(h.val)); err != nil {
		return err
	}
	p.Legend.Top = true
	return p.Save(6*vg.Inch, 4*vg.Inch, path)
}
