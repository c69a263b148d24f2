package main

import (
	"math"
	"testing"
)

func TestMakeDataDependsOnSeed(t *testing.T) {
	a, b, a2 := makeData(1, 50, 0.2), makeData(2, 50, 0.2), makeData(1, 50, 0.2)
	if a.raw[0] == b.raw[0] {
		t.Errorf("seeds 1 and 2 gave the same first point %v", a.raw[0])
	}
	if a.raw[0] != a2.raw[0] {
		t.Errorf("seed 1 is not reproducible: %v vs %v", a.raw[0], a2.raw[0])
	}
	if got := a.trainX.Shape().Dimensions[0] + a.valX.Shape().Dimensions[0]; got != 50 {
		t.Errorf("train+val = %d points, want 50", got)
	}
}

func TestTrainingReducesLoss(t *testing.T) {
	tests := []struct {
		lr     float64
		hidden int
	}{{0.1, 8}, {0.05, 32}}
	for _, tt := range tests {
		d := makeData(7, 200, 0.1)
		m, err := newModel(tt.hidden, 7)
		if err != nil {
			t.Fatal(err)
		}
		first, err := m.trainStep(d.trainX, d.trainY, tt.lr)
		if err != nil {
			t.Fatal(err)
		}
		for range 200 {
			if _, err := m.trainStep(d.trainX, d.trainY, tt.lr); err != nil {
				t.Fatal(err)
			}
		}
		last, err := m.loss(d.valX, d.valY)
		if err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(last) || last > first/2 {
			t.Errorf("lr=%g hidden=%d: loss %v -> val_loss %v, want at least halved", tt.lr, tt.hidden, first, last)
		}
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
	}{
		{[]string{"--lr", "0.01", "--hidden", "4", "--epochs", "5", "--seed", "3"}, false},
		{[]string{"--lr", "0"}, true},
		{[]string{"--hidden", "0"}, true},
		{[]string{"--epochs", "-1"}, true},
	}
	for _, tt := range tests {
		c, err := parseFlags(tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseFlags(%v) err = %v, wantErr %v", tt.args, err, tt.wantErr)
		}
		if err == nil && (c.seed == 0 || c.runName == "") {
			t.Errorf("parseFlags(%v) = %+v: seed and run name must be filled in", tt.args, c)
		}
	}
}
