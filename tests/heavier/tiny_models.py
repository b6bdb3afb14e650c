"""A heavier stand-in for tests/tiny_models.py:tiny_convnet, for tests of `harness compare`.

Loaded as `tests/heavier/tiny_models.py:tiny_convnet`, it gets the same model name as the real
one (`tiny_models_tiny_convnet`), so a run of it lands in the same cell: a regression as a code
change would make one, about 200x the multiply-adds on the same input.
"""

from torch import nn


def tiny_convnet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )


tiny_convnet.input_shape = (1, 3, 32, 32)
