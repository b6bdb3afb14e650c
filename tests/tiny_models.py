"""Small models for tests: real convolutions, so the runtimes do real work, in milliseconds."""

from torch import nn


def tiny_convnet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


tiny_convnet.input_shape = (1, 3, 32, 32)


def slow_convnet() -> nn.Module:
    """About 10x the work of tiny_convnet, for tests that need a measurable duration."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


slow_convnet.input_shape = (1, 3, 64, 64)


class _Unexportable(nn.Module):
    def forward(self, x):
        # Data-dependent control flow: torch.export cannot trace it.
        if x.sum() > 0:
            return x * 2
        return x


def unexportable() -> nn.Module:
    return _Unexportable()


unexportable.input_shape = (1, 3, 8, 8)


# Models that fail in the ways user code does; the harness must turn each into rows, not a crash.


def raising_factory() -> nn.Module:
    raise RuntimeError("this factory always fails")


raising_factory.input_shape = (1, 3, 8, 8)


class _FailingForward(nn.Module):
    def forward(self, x):
        raise ValueError("this forward always fails")


def failing_forward() -> nn.Module:
    return _FailingForward()


failing_forward.input_shape = (1, 3, 8, 8)


class _HangingForward(nn.Module):
    def forward(self, x):
        import time

        while True:  # a forward that never returns
            time.sleep(1)


def hanging_forward() -> nn.Module:
    return _HangingForward()


hanging_forward.input_shape = (1, 3, 8, 8)


def gray_convnet() -> nn.Module:
    """One input channel, as grayscale models have."""
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 10))
