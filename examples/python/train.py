"""Train a tiny network on noisy toy data and log the run to MLflow.

The Python twin of examples/train (Go): y = sin(3x) + 0.5x + noise for x in
[-1, 1], a one-hidden-layer tanh network fitted by full-batch gradient
descent. Params lr/hidden/epochs/seed and per-epoch `loss` / `val_loss` go to
the tracking server named by MLFLOW_TRACKING_URI (mltrack or MLflow).

    MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python train.py --lr 0.1 --hidden 16
    python train.py --no-torch ...   # the same network in NumPy, no PyTorch needed
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import mlflow
import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lr", type=float, default=0.1, help="learning rate")
    p.add_argument("--hidden", type=int, default=16, help="neurons in the hidden layer")
    p.add_argument("--epochs", type=int, default=300, help="full-batch epochs")
    p.add_argument("--seed", type=int, default=None, help="data and init seed (default: from the clock)")
    p.add_argument("--experiment", default=None, help="experiment name (default $MLFLOW_EXPERIMENT_NAME or mltrack-demo)")
    p.add_argument("--no-torch", action="store_true", help="train the NumPy version instead of PyTorch")
    args = p.parse_args(argv)
    if args.lr <= 0 or args.hidden < 1 or args.epochs < 1:
        p.error("--lr must be > 0, --hidden and --epochs >= 1")
    if args.seed is None:
        args.seed = time.time_ns() % 2**31
    return args


def make_data(seed: int, n: int = 400, noise: float = 0.2):
    """Toy regression data, different for every seed; 80/20 train/val split."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 1))
    y = np.sin(3 * x) + 0.5 * x + rng.normal(0, noise, size=(n, 1))
    cut = n * 4 // 5
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def init_weights(hidden: int, seed: int):
    rng = np.random.default_rng(seed + 1)
    return {
        "w1": rng.normal(0, 1, size=(1, hidden)),
        "b1": np.zeros((1, hidden)),
        "w2": rng.normal(0, 1 / math.sqrt(hidden), size=(hidden, 1)),
        "b2": np.zeros((1, 1)),
    }


def train_numpy(train, val, hidden: int, lr: float, epochs: int, seed: int):
    """Gradient descent with hand-written backpropagation."""
    w = init_weights(hidden, seed)
    (x, y), (vx, vy) = train, val

    def forward(inp):
        h = np.tanh(inp @ w["w1"] + w["b1"])
        return h, h @ w["w2"] + w["b2"]

    for _ in range(epochs):
        h, pred = forward(x)
        err = pred - y
        loss = float(np.mean(err**2))
        d_pred = 2 * err / len(x)
        d_h = (d_pred @ w["w2"].T) * (1 - h**2)
        grads = {
            "w2": h.T @ d_pred,
            "b2": d_pred.sum(axis=0, keepdims=True),
            "w1": x.T @ d_h,
            "b1": d_h.sum(axis=0, keepdims=True),
        }
        for k in w:
            w[k] -= lr * grads[k]
        val_loss = float(np.mean((forward(vx)[1] - vy) ** 2))
        yield loss, val_loss


def train_torch(train, val, hidden: int, lr: float, epochs: int, seed: int):
    """The same network and initialisation in PyTorch (autograd)."""
    import torch

    torch.manual_seed(seed)
    w = init_weights(hidden, seed)
    model = torch.nn.Sequential(torch.nn.Linear(1, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(w["w1"].T))
        model[0].bias.zero_()
        model[2].weight.copy_(torch.tensor(w["w2"].T))
        model[2].bias.zero_()
    model = model.double()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.MSELoss()
    (x, y), (vx, vy) = [tuple(torch.tensor(a) for a in pair) for pair in (train, val)]
    for _ in range(epochs):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        with torch.no_grad():
            val_loss = loss_fn(model(vx), vy)
        yield float(loss), float(val_loss)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import os

    mlflow.set_experiment(args.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "mltrack-demo")
    train, val = make_data(args.seed)
    trainer = train_numpy if args.no_torch else train_torch
    with mlflow.start_run(run_name=f"lr={args.lr},hidden={args.hidden}") as run:
        mlflow.log_params(
            {
                "lr": args.lr,
                "hidden": args.hidden,
                "epochs": args.epochs,
                "seed": args.seed,
                "framework": "numpy" if args.no_torch else "torch",
            }
        )
        loss = val_loss = float("nan")
        for epoch, (loss, val_loss) in enumerate(trainer(train, val, args.hidden, args.lr, args.epochs, args.seed)):
            mlflow.log_metrics({"loss": loss, "val_loss": val_loss}, step=epoch)
            if not math.isfinite(loss):
                print(f"training diverged at epoch {epoch}; try a smaller --lr", file=sys.stderr)
                mlflow.end_run(status="FAILED")
                return 1
        print(f"run {run.info.run_id}: loss {loss:.4f} val_loss {val_loss:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
