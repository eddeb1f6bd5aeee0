"""01 — Autograd by hand

Teaches: what a computational graph is, the chain rule done by hand on a scalar graph, the same
graph in tinydl with backward(), and a numerical check with central differences.
Seed system: the scalar-autograd examples every course starts from (one neuron, done by hand).

Run: python lessons/01_autograd_by_hand.py [--quick] [--out runs/]
"""
# %% [markdown]
# A neuron with two inputs: out = tanh(w1*x1 + w2*x2 + b). We compute d out / d w1 (and the
# others) three ways: (1) by hand with the chain rule, (2) with tinydl's backward(),
# (3) numerically, nudging each input by ±eps.

# %%
import argparse
import math
from pathlib import Path

import tinydl as td


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--out", default="runs", help="folder for figures (default: runs/)")
    return parser.parse_args()


def neuron(x1, w1, x2, w2, b):
    """The graph: n = x1*w1 + x2*w2 + b; out = tanh(n). Works on floats and on Tensors."""
    n = x1 * w1 + x2 * w2 + b
    return n.tanh() if isinstance(n, td.Tensor) else math.tanh(n)


def by_hand(x1, w1, x2, w2, b):
    """Forward pass keeping every intermediate, then the chain rule backwards."""
    # forward
    x1w1 = x1 * w1
    x2w2 = x2 * w2
    n = x1w1 + x2w2 + b
    out = math.tanh(n)
    # backward: d out/d out = 1; d out/d n = 1 - tanh(n)^2
    d_n = 1.0 - out ** 2
    # n is a sum, so it passes its gradient to each term unchanged
    d_x1w1 = d_n
    d_x2w2 = d_n
    d_b = d_n
    # a product x*w sends grad*w to x and grad*x to w
    return {"x1": d_x1w1 * w1, "w1": d_x1w1 * x1, "x2": d_x2w2 * w2, "w2": d_x2w2 * x2, "b": d_b}


def numerically(values, eps=1e-6):
    """Central differences: (f(v + eps) - f(v - eps)) / (2 eps) for each input v."""
    grads = {}
    for name in values:
        up, down = dict(values), dict(values)
        up[name] += eps
        down[name] -= eps
        grads[name] = (neuron(**up) - neuron(**down)) / (2 * eps)
    return grads


def main() -> None:
    args = parse_args()
    td.manual_seed(1)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    # %% the values of the graph's leaves
    values = {"x1": 1.5, "w1": -2.0, "x2": 0.5, "w2": 1.2, "b": 2.0}

    # %% (1) by hand
    hand = by_hand(**values)

    # %% (2) tinydl: the same expression, then backward()
    leaves = {k: td.tensor(v, dtype=td.float64, requires_grad=True) for k, v in values.items()}
    out = neuron(**leaves)
    out.backward()
    auto = {k: t.grad.item() for k, t in leaves.items()}

    # %% (3) numerical derivatives
    numeric = numerically(values)

    print(f"out = tanh(x1*w1 + x2*w2 + b) = {out.item():.6f}")
    print(f"{'leaf':>4} {'by hand':>12} {'tinydl':>12} {'numerical':>12}")
    worst = 0.0
    for name in values:
        print(f"{name:>4} {hand[name]:12.6f} {auto[name]:12.6f} {numeric[name]:12.6f}")
        worst = max(worst, abs(hand[name] - auto[name]), abs(auto[name] - numeric[name]))
    print(f"largest disagreement: {worst:.2e}")
    assert worst < 1e-6, "the three ways of differentiating should agree"

    # %% the graph tinydl recorded, as Graphviz DOT text
    dot_path = out_dir / "01_graph.dot"
    dot_path.write_text(td.viz.to_dot(out))
    print(f"graph written to {dot_path} (render with: dot -Tpng {dot_path} -o graph.png)")

    # %% a picture: tanh and its derivative from backward, sampled along a line
    steps = 21 if args.quick else 201
    xs = td.linspace(-3, 3, steps, dtype=td.float64).requires_grad_()
    xs.tanh().sum().backward()  # d/dx of sum(tanh(x)) is 1 - tanh(x)^2 at each point
    try:
        from tinydl.plot import plot_curves

        plot_curves({"tanh(x)": xs.tanh().numpy().tolist(), "d tanh/dx (backward)":
                     xs.grad.numpy().tolist()}, path=out_dir / "01_tanh_and_derivative.png",
                    xlabel=f"x (index of {steps} points from -3 to 3)", ylabel="value",
                    title="tanh and the gradient backward() computed")
        print(f"figure saved to {out_dir / '01_tanh_and_derivative.png'}")
    except ImportError:
        print("matplotlib is not installed: pip install 'tinydl[plot]' for the figure")


if __name__ == "__main__":
    main()
