"""01a — The backward pass, step by step

Teaches: what backward() does inside: the graph's nodes in topological order (each node before
the nodes it depends on), then one loop calling each node's backward and adding up gradients,
so a value used twice gets both contributions. Assignment 6 asks for that order.
Seed system: MiniTorch's Task 1.4 (topological sort and backpropagate), micrograd's backward().

Run: python lessons/01a_the_backward_pass.py [--quick] [--out runs/]
"""
# %% [markdown]
# y = sum(exp(2x) + 2x): four nodes (Mul, Exp, Add, Sum). backward() must visit Sum first,
# then Add, and reach Mul only after both of Mul's users (Exp and Add) have handed it their
# gradients. A depth-first search that records each node after its inputs, reversed, gives
# such an order (tinydl.autograd._topological_order, iterative so deep graphs do not hit
# Python's recursion limit).

# %%
import argparse
from pathlib import Path

import numpy as np

import tinydl as td
from tinydl.autograd import _topological_order


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--out", default="runs", help="folder for the printed order (default: runs/)")
    return parser.parse_args()


def backward_by_hand(y: td.Tensor) -> dict[int, np.ndarray]:
    """The engine's loop, written out: gradients of y with respect to every leaf, by id."""
    grads = {id(y._ctx): [np.ones_like(y.data)]}  # gradient reaching each node's output
    leaf_grads: dict[int, np.ndarray] = {}
    for ctx in _topological_order([y._ctx]):
        total = sum(grads.pop(id(ctx)))  # every user's contribution to this node's output
        grad_out = td.tensor(total, dtype=total.dtype)
        input_grads = ctx.fn.backward(ctx, grad_out)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        for tensor, grad in zip(ctx.inputs, input_grads):
            if grad is None or not tensor.requires_grad:
                continue
            if tensor._ctx is None:  # a leaf: accumulate (+=), a value used twice adds up
                leaf_grads[id(tensor)] = leaf_grads.get(id(tensor), 0) + grad.numpy()
            else:
                grads.setdefault(id(tensor._ctx), []).append(grad.numpy())
    return leaf_grads


def main() -> None:
    args = parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    td.manual_seed(0)
    size = 3 if args.quick else 1000

    # %% the graph and its order
    x = td.randn(size, dtype=td.float64, requires_grad=True)
    doubled = x * 2.0
    y = (doubled.exp() + doubled).sum()
    order = [ctx.fn.__name__ for ctx in _topological_order([y._ctx])]
    print("topological order:", " -> ".join(order))
    assert order[0] == "Sum" and order[-1] == "Mul"

    # %% the loop by hand against backward()
    by_hand = backward_by_hand(y)[id(x)]
    y.backward()
    expected = 2.0 * np.exp(2.0 * x.numpy()) + 2.0  # d/dx of exp(2x) + 2x
    worst = max(np.abs(by_hand - x.grad.numpy()).max(), np.abs(x.grad.numpy() - expected).max())
    print(f"largest disagreement (by hand, backward(), formula): {worst:.2e}")
    assert worst < 1e-9
    (out_dir / "01a_order.txt").write_text(" -> ".join(order) + "\n")
    print(f"order written to {out_dir / '01a_order.txt'}")


if __name__ == "__main__":
    main()
