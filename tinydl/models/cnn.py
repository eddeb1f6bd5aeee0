"""The convolutional networks the lessons train: the two seed CNNs and LeNet-5.

Seed002Net   the Keras MNIST tutorial network (seed 002), for 1×28×28 images
Seed004Net   the PyTorch CIFAR-10 network (seed 004), for 3×32×32 images
LeNet5       LeCun et al.'s 1998 layout with ReLU and max pooling, for 28×28 or 32×32 images

Each returns class scores (logits), shape (N, num_classes); apply cross-entropy to them.

"Conv + ReLU -> MaxPool" is written F.relu(F.max_pool2d(conv(x), 2)): pooling first, then ReLU.
Both orders give the same values and the same gradients (ReLU never lowers a larger value
below a smaller one, so the window's maximum and where it is stay put, and a window whose
maximum is <= 0 sends no gradient either way), but pooling first lets ReLU touch a quarter of
the elements: two fewer passes over the largest activations of the step.
"""
from __future__ import annotations

from tinydl import functional as F
from tinydl import nn
from tinydl.errors import ShapeError
from tinydl.tensor import Tensor


def _check_input(model: nn.Module, x: Tensor, channels: int, sizes: tuple[int, ...]) -> None:
    if x.ndim != 4 or x.shape[1] != channels or x.shape[2] not in sizes or x.shape[3] != x.shape[2]:
        wanted = " or ".join(f"(N, {channels}, {s}, {s})" for s in sizes)
        raise ShapeError(f"{type(model).__name__}: expected images of shape {wanted}, got "
                         f"{x.shape}; (N, H, W) images need a channel axis: x.unsqueeze(1)")


class Seed002Net(nn.Module):
    """Seed 002's Keras network for 28×28 grayscale images (MNIST, Fashion-MNIST).

    Conv2D(32, 3)+ReLU -> MaxPool 2 -> Conv2D(64, 3)+ReLU -> MaxPool 2 -> Conv2D(64, 3)+ReLU
    -> Flatten -> Dense(64)+ReLU -> Dense(10), all convolutions 'valid' (no padding).
    Shapes: (N, 1, 28, 28) -> 32×26×26 -> 32×13×13 -> 64×11×11 -> 64×5×5 -> 64×3×3 -> 576
    -> 64 -> (N, 10). 93,322 parameters, as in the Keras summary.

    init="keras" (default) starts the weights as Keras does, Glorot-uniform with zero biases,
    so training behaves like the seed's; init="torch" keeps PyTorch's defaults. (Keras
    flattens channels-last, tinydl channels-first; that only permutes the Dense(64) inputs.)
    """

    def __init__(self, num_classes: int = 10, init: str = "keras"):
        super().__init__()
        if init not in ("keras", "torch"):
            raise ValueError(f"Seed002Net: init must be 'keras' or 'torch', got {init!r}")
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.fc1 = nn.Linear(64 * 3 * 3, 64)
        self.fc2 = nn.Linear(64, num_classes)
        if init == "keras":
            for layer in (self.conv1, self.conv2, self.conv3, self.fc1, self.fc2):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(self, x, 1, (28,))
        x = F.relu(F.max_pool2d(self.conv1(x), 2))     # (N, 32, 13, 13)
        x = F.relu(F.max_pool2d(self.conv2(x), 2))     # (N, 64, 5, 5)
        x = F.relu(self.conv3(x))                       # (N, 64, 3, 3)
        x = F.relu(self.fc1(x.flatten(1)))              # (N, 576) -> (N, 64)
        return self.fc2(x)                              # (N, num_classes)


class Seed004Net(nn.Module):
    """Seed 004's PyTorch network for 32×32 colour images (CIFAR-10).

    Conv2d(3, 32, 3, 1, 1)+ReLU -> MaxPool 2 -> Conv2d(32, 64, 3, 1, 1)+ReLU -> MaxPool 2
    -> Linear(64*8*8, 128)+ReLU -> Linear(128, 10).
    Shapes: (N, 3, 32, 32) -> 32×32×32 -> 32×16×16 -> 64×16×16 -> 64×8×8 -> 4096 -> 128
    -> (N, 10). PyTorch's default initialisation.

    The seed writes the first Linear as 64*6*6 inputs: that is a bug (with padding 1 the
    two poolings leave 8×8, so its forward would fail); 64*8*8 is the size that fits.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 1, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1, 1)
        self.fc1 = nn.Linear(64 * 8 * 8, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(self, x, 3, (32,))
        x = F.relu(F.max_pool2d(self.conv1(x), 2))     # (N, 32, 16, 16)
        x = F.relu(F.max_pool2d(self.conv2(x), 2))     # (N, 64, 8, 8)
        x = F.relu(self.fc1(x.flatten(1)))              # (N, 4096) -> (N, 128)
        return self.fc2(x)                              # (N, num_classes)


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) with ReLU and max pooling, for 28×28 or 32×32 images.

    Conv(5×5, 6)+ReLU -> MaxPool 2 -> Conv(5×5, 16)+ReLU -> MaxPool 2 -> 120 -> 84 -> classes.
    28×28 inputs get 2 pixels of padding in the first convolution, so both sizes reach
    6×28×28 -> 6×14×14 -> 16×10×10 -> 16×5×5 = 400 features.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28):
        super().__init__()
        if image_size not in (28, 32):
            raise ValueError(f"LeNet5: image_size must be 28 or 32, got {image_size}")
        self.in_channels, self.image_size = in_channels, image_size
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=(32 - image_size) // 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(self, x, self.in_channels, (self.image_size,))
        x = F.relu(F.max_pool2d(self.conv1(x), 2))     # (N, 6, 14, 14)
        x = F.relu(F.max_pool2d(self.conv2(x), 2))     # (N, 16, 5, 5)
        x = F.relu(self.fc1(x.flatten(1)))              # (N, 400) -> (N, 120)
        x = F.relu(self.fc2(x))                         # (N, 84)
        return self.fc3(x)                              # (N, num_classes)
