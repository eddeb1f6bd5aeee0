"""Optimizers (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop,
LBFGS) and learning-rate schedulers, with PyTorch's names.

    opt = tinydl.optim.Adam(model.parameters(), lr=1e-3)
    sched = tinydl.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)

Gradient clipping lives in ``tinydl.nn.utils`` (clip_grad_norm_, clip_grad_value_), as in PyTorch.
"""
from tinydl.optim import lr_scheduler
from tinydl.optim.adam import Adam, AdamW
from tinydl.optim.adam_variants import Adamax, NAdam, RAdam
from tinydl.optim.adaptive import Adadelta, Adagrad
from tinydl.optim.asgd import ASGD
from tinydl.optim.lbfgs import LBFGS
from tinydl.optim.optimizer import Optimizer
from tinydl.optim.rmsprop import RMSprop
from tinydl.optim.rprop import Rprop
from tinydl.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax",
           "NAdam", "RAdam", "ASGD", "Rprop", "LBFGS", "lr_scheduler"]
