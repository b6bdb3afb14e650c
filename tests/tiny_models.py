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


class _Cumsum(nn.Module):
    """A running sum along the width, as sine positional encodings compute it (DETR's): an
    operator XNNPACK does not take in ExecuTorch 1.5.1, so ExecuTorch's portable kernels run it
    on the CPU between two XNNPACK partitions."""

    def forward(self, x):
        import torch

        return torch.cumsum(x, dim=-1)


def fallback_convnet() -> nn.Module:
    """slow_convnet with a cumsum after its first convolution: XNNPACK, two partitions around
    one operator on the CPU."""
    layers = list(slow_convnet())
    return nn.Sequential(*layers[:2], _Cumsum(), *layers[2:])


fallback_convnet.input_shape = slow_convnet.input_shape


class _PlantedInt8(nn.Module):
    """A network whose one layer, `mix`, breaks int8 and nothing else.

    `mix` is a linear bottleneck (a 3x3 conv with no activation, as MobileNetV2's projections
    are) whose output channel 0 is scaled up by OUTLIER, and the next 1x1 conv, `proj`, scales
    that channel's weights down by as much: in float the network computes exactly what it did,
    but int8 quantizes `mix`'s output with one scale for the whole tensor, set by channel 0, so
    every other channel of it rounds to almost nothing. The error appears at `mix`.
    """

    OUTLIER = 1000.0

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.act = nn.ReLU()
        self.mix = nn.Conv2d(16, 16, 3, padding=1)
        self.proj = nn.Conv2d(16, 32, 1)
        self.act2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(32, 10, bias=False)  # logits from the features, not a bias
        self.plant()

    def plant(self):
        import torch

        with torch.no_grad():
            self.mix.weight[0] *= self.OUTLIER
            self.mix.bias[0] *= self.OUTLIER
            self.proj.weight[:, 0] /= self.OUTLIER

    def forward(self, x):
        x = self.act(self.stem(x))
        x = self.act2(self.proj(self.mix(x)))
        return self.head(self.pool(x).flatten(1))


def planted_int8_convnet() -> nn.Module:
    return _PlantedInt8()


planted_int8_convnet.input_shape = (1, 3, 32, 32)


class _PlantedFp16(_PlantedInt8):
    """The same network with `mix`'s channel 0 scaled by 1e7: its weights pass fp16's largest
    value (65504), so fp16 weights hold inf there and `mix` is where inf appears."""

    OUTLIER = 1e7


def planted_fp16_convnet() -> nn.Module:
    return _PlantedFp16()


planted_fp16_convnet.input_shape = (1, 3, 32, 32)
