package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego" // the pure-Go backend; -tags noxla keeps XLA out
	. "github.com/gomlx/gomlx/pkg/core/graph"    //nolint:revive // GoMLX graph code reads as math
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// dataset is a toy 1-D regression problem, split into train and validation.
type dataset struct {
	trainX, trainY, valX, valY *tensors.Tensor
	raw                        [][2]float32 // for inspection in tests
}

// makeData samples y = sin(3x) + 0.5x + noise for x in [-1, 1] (inputs
// kept near unit scale so plain gradient descent stays stable). The seed
// decides everything, so runs are reproducible and seeds differ.
func makeData(seed uint64, n int, noise float64) dataset {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	xs := make([]float32, n)
	ys := make([]float32, n)
	raw := make([][2]float32, n)
	for i := range n {
		x := rng.Float64()*2 - 1
		y := math.Sin(3*x) + 0.5*x + rng.NormFloat64()*noise
		xs[i], ys[i] = float32(x), float32(y)
		raw[i] = [2]float32{xs[i], ys[i]}
	}
	nTrain := n * 4 / 5
	return dataset{
		trainX: tensors.FromFlatDataAndDimensions(xs[:nTrain], nTrain, 1),
		trainY: tensors.FromFlatDataAndDimensions(ys[:nTrain], nTrain, 1),
		valX:   tensors.FromFlatDataAndDimensions(xs[nTrain:], n-nTrain, 1),
		valY:   tensors.FromFlatDataAndDimensions(ys[nTrain:], n-nTrain, 1),
		raw:    raw,
	}
}

// model is x -> tanh(x·W1 + b1)·W2 + b2, trained by full-batch gradient
// descent on the mean squared error. Gradients come from GoMLX's autodiff.
type model struct {
	params []*tensors.Tensor // w1 [1,h], b1 [1,h], w2 [h,1], b2 [1,1]
	step   *Exec             // (x, y, lr, params...) -> (loss, params'...)
	eval   *Exec             // (x, y, params...) -> loss
}

func forward(x, w1, b1, w2, b2 *Node) *Node {
	h := Tanh(Add(MatMul(x, w1), b1))
	return Add(MatMul(h, w2), b2)
}

func mse(pred, y *Node) *Node { return ReduceAllMean(Square(Sub(pred, y))) }

func newModel(hidden int, seed uint64) (*model, error) {
	backend, err := backends.NewWithConfig("go")
	if err != nil {
		return nil, fmt.Errorf("GoMLX simplego backend: %w", err)
	}
	rng := rand.New(rand.NewPCG(seed, 0x1417))
	// Xavier-style initialisation keeps tanh out of saturation at the start.
	randn := func(n int, scale float64) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64() * scale)
		}
		return out
	}
	m := &model{params: []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(randn(hidden, 1), 1, hidden),
		tensors.FromFlatDataAndDimensions(make([]float32, hidden), 1, hidden),
		tensors.FromFlatDataAndDimensions(randn(hidden, 1/math.Sqrt(float64(hidden))), hidden, 1),
		tensors.FromFlatDataAndDimensions([]float32{0}, 1, 1),
	}}
	m.step, err = NewExec(backend, func(in []*Node) []*Node {
		x, y, lr, ps := in[0], in[1], in[2], in[3:]
		loss := mse(forward(x, ps[0], ps[1], ps[2], ps[3]), y)
		grads := Gradient(loss, ps...)
		out := []*Node{loss}
		for i, p := range ps {
			out = append(out, Sub(p, Mul(lr, grads[i])))
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	m.eval, err = NewExec(backend, func(in []*Node) *Node {
		return mse(forward(in[0], in[2], in[3], in[4], in[5]), in[1])
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// trainStep applies one gradient-descent update and returns the loss before it.
func (m *model) trainStep(x, y *tensors.Tensor, lr float64) (float64, error) {
	args := []any{x, y, float32(lr)}
	for _, p := range m.params {
		args = append(args, p)
	}
	out, err := m.step.Exec(args...)
	if err != nil {
		return 0, err
	}
	m.params = out[1:]
	return float64(tensors.ToScalar[float32](out[0])), nil
}

func (m *model) loss(x, y *tensors.Tensor) (float64, error) {
	args := []any{x, y}
	for _, p := range m.params {
		args = append(args, p)
	}
	out, err := m.eval.Exec(args...)
	if err != nil {
		return 0, err
	}
	return float64(tensors.ToScalar[float32](out[0])), nil
}

// save writes the weights as JSON: readable, and loadable by any language.
func (m *model) save(path string) error {
	names := []string{"w1", "b1", "w2", "b2"}
	doc := map[string]any{"architecture": "x -> tanh(x·w1 + b1)·w2 + b2"}
	for i, p := range m.params {
		data, err := tensors.CopyFlatData[float32](p)
		if err != nil {
			return err
		}
		doc[names[i]] = map[string]any{"shape": p.Shape().Dimensions, "data": data}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
