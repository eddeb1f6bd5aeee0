"""15 — The GPU backend

Teaches: how one code path runs on NumPy or CuPy (xp = get_array_module), moving tensors and
models with .to("cuda"), what happens when devices are mixed, and training where the data,
the parameters and the optimizer state all live on the GPU. On a machine without a GPU (or
without CuPy) it says so and runs the same training on the CPU.
Seed system: seed 004's "move the model to the GPU" step (model.to(device) in PyTorch).

Run: python lessons/15_gpu_backend.py [--quick] [--out runs/]
"""
# %%
import argparse
import time
from pathlib import Path

import tinydl as td
from tinydl import nn, optim
from tinydl.backend import get_array_module
from tinydl.data import make_spirals


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--out", default="runs", help="folder for figures (default: runs/)")
    return parser.parse_args()


def pick_device() -> str:
    """'cuda' when CuPy and a GPU are there; otherwise explain and use the CPU."""
    if td.cuda_is_available():
        return "cuda"
    try:
        td.tensor([1.0]).to("cuda")
    except td.DeviceError as err:
        print(f"No GPU here, so this lesson runs on the CPU. (The message a user sees: {err})")
    return "cpu"


def main() -> None:
    args = parse_args()
    td.manual_seed(15)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device()
    print(f"device: {device}")

    # %% one code path: every op asks the array for its module (numpy or cupy)
    x = td.randn(3, 4).to(device)
    print(f"x lives on {x.device}; its arrays come from the module {get_array_module(x.data).__name__}")

    # %% mixing devices is an error that names the op and the devices (shown with the CPU and
    # the test suite's stand-in device when there is no GPU)
    if device == "cpu":
        from tinydl.testing import standin

        standin.register()
        other = td.ones(3, 4, device="standin")
    else:
        other = td.ones(3, 4)  # on the CPU while x is on the GPU
    try:
        x + other
    except td.DeviceError as err:
        print(f"mixing devices: {err}")

    # %% train a small MLP with everything on the device
    points, labels = make_spirals(n_samples=300 if args.quick else 1500, classes=3, seed=15)
    inputs, targets = td.tensor(points).to(device), td.tensor(labels).to(device)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                          nn.Linear(64, 3)).to(device)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    steps = 30 if args.quick else 400
    losses = []
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    elapsed = time.perf_counter() - start
    state_modules = {get_array_module(s["exp_avg"]).__name__ for s in optimizer.state.values()}
    with td.no_grad():
        accuracy = (model(inputs).argmax(axis=1) == targets).float().mean().item()
    print(f"{steps} Adam steps on {device}: {elapsed / steps * 1e3:.2f} ms/step, "
          f"loss {losses[0]:.3f} -> {losses[-1]:.3f}, training accuracy {accuracy:.3f}")
    print(f"optimizer state arrays come from: {sorted(state_modules)}")

    # %% bring results back to the host for NumPy and plotting
    weights = model[0].weight.numpy()  # .numpy() copies from the GPU when needed
    print(f"first-layer weights back on the host: shape {weights.shape}, dtype {weights.dtype}")
    try:
        from tinydl.plot import plot_curves

        plot_curves({f"training loss ({device})": losses}, path=out_dir / "15_loss.png",
                    xlabel="step", ylabel="cross-entropy", title="MLP on spirals")
        print(f"figure saved to {out_dir / '15_loss.png'}")
    except ImportError:
        print("matplotlib is not installed: pip install 'tinydl[plot]' for the figure")


if __name__ == "__main__":
    main()
