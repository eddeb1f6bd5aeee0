"""02 — Gradient checking

Teaches: why a backward pass needs testing, central differences and the choice of eps, float64
for checks, tinydl.testing.gradcheck catching a wrong backward, and writing a hypothesis
property test that checks an op on many random shapes.
Seed system: the gradient-check exercises of classic NumPy courses (CS231n-style).

Run: python lessons/02_gradient_checking.py [--quick] [--out runs/]
"""
# %%
import argparse
from pathlib import Path

import numpy as np

import tinydl as td
from tinydl.testing import GradcheckError, gradcheck, gradgradcheck


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--out", default="runs", help="folder for figures (default: runs/)")
    return parser.parse_args()


# %% [markdown]
# A new primitive is a Function: forward on arrays, backward with tinydl ops.
# softplus(x) = log(1 + e^x); its derivative is sigmoid(x).

# %%
class Softplus(td.Function):
    @staticmethod
    def forward(ctx, x):
        return np.logaddexp(0.0, x)  # log(1 + e^x) without overflow

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.inputs[0].sigmoid()


class BuggySoftplus(td.Function):
    """Same forward, but backward forgot that the derivative is sigmoid(x), not e^x."""

    @staticmethod
    def forward(ctx, x):
        return np.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.inputs[0].exp()


def softplus(x):
    return Softplus.apply(x)


def main() -> None:
    args = parse_args()
    td.manual_seed(2)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    # %% 1. Central differences and eps: error of d/dx exp(x) at x = 1 (true value e)
    print("eps      forward-difference error   central-difference error   (float64)")
    rows = []
    for eps in [10.0 ** -k for k in range(1, 13)]:
        forward = (np.exp(1 + eps) - np.exp(1)) / eps
        central = (np.exp(1 + eps) - np.exp(1 - eps)) / (2 * eps)
        rows.append((eps, abs(forward - np.e), abs(central - np.e)))
        print(f"{eps:7.0e}  {rows[-1][1]:24.3e}   {rows[-1][2]:24.3e}")
    best = min(rows, key=lambda r: r[2])
    print(f"central differences are best near eps = {best[0]:.0e} (error {best[2]:.1e}): "
          "too large and the curve bends, too small and rounding wins")
    in_float32 = (np.exp(np.float32(1 + 1e-6)) - np.exp(np.float32(1 - 1e-6))) / np.float32(2e-6)
    print(f"the same check in float32 at eps=1e-6 is off by {abs(in_float32 - np.e):.1e}: "
          "always gradcheck in float64")

    # %% 2. gradcheck passes the right backward and catches the wrong one
    x = td.randn(4, 3, dtype=td.float64, requires_grad=True)
    print("gradcheck(softplus):", gradcheck(softplus, [x]))
    print("gradgradcheck(softplus):", gradgradcheck(softplus, [x]))
    try:
        gradcheck(lambda t: BuggySoftplus.apply(t), [x])
        raise SystemExit("gradcheck should have caught the bug")
    except GradcheckError as err:
        print("gradcheck caught the buggy backward:", err)

    # %% 3. A property test with hypothesis: softplus is checked on many shapes and values
    try:
        from hypothesis import given, settings
        from hypothesis.extra.numpy import array_shapes, arrays
        from hypothesis.strategies import floats
    except ImportError:
        print("hypothesis is not installed (pip install 'tinydl[test]'): skipping part 3")
        return
    examples = 10 if args.quick else 100
    checked = []

    @settings(max_examples=examples, deadline=None, derandomize=True)
    @given(arrays(np.float64, array_shapes(max_dims=3, max_side=4),
                  elements=floats(-5, 5, allow_nan=False)))
    def test_softplus_gradient(values):
        t = td.tensor(values, dtype=td.float64, requires_grad=True)
        assert gradcheck(softplus, [t])
        np.testing.assert_allclose(softplus(t).numpy(), np.log1p(np.exp(values)), rtol=1e-12)
        checked.append(values.shape)

    test_softplus_gradient()
    print(f"hypothesis checked softplus on {len(checked)} random arrays, shapes such as "
          f"{sorted(set(checked), key=len)[-3:]}")

    # %% the eps picture
    try:
        from tinydl.plot import plot_curves
    except ImportError:
        return
    plot_curves({"forward difference": [max(r[1], 1e-17) for r in rows],
                 "central difference": [max(r[2], 1e-17) for r in rows]},
                path=out_dir / "02_eps_error.png", xlabel="k (eps = 10^-k)",
                ylabel="|numerical - true|", title="Error of numerical derivatives", logy=True)
    print(f"figure saved to {out_dir / '02_eps_error.png'}")


if __name__ == "__main__":
    main()
