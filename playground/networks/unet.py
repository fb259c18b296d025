"""A small U-Net (Ronneberger et al. 2015) for segmentation: an encoder that halves the image
``depth`` times, a decoder that doubles it back, and skip connections that hand each encoder
level's features to the decoder level of the same size. ``skips=False`` drops them (the decoder
then rebuilds the mask from the coarse bottleneck alone), so a learner can see what they are for.
``context=True`` adds the whole image's context (the idea of EncNet's semantic encoding, Zhang et
al. 2018): the bottleneck, averaged over the image, gives one score per object class for "this
image holds it", whose log-sigmoid is added to that class's score at every pixel. A pixel then
cannot pick a class that the image as a whole rules out: the stray patches of a second shape
inside a shape (a star's tip read as a triangle) go. Background is never gated.

Every level is two 3x3 convolutions (padding 1) with batch norm and ReLU; level ``i`` has
``width * 2**i`` channels; down is 2x2 max pooling, up a 2x2 transposed convolution; a 1x1
convolution gives the class scores. The output is (N, classes, H, W) for an (N, C, H, W) input
of *any* size: an input whose sides are not multiples of ``2**depth`` is padded up to the next
multiple (replicating its edge pixels) and the scores are cropped back, so a learner's photo of
any size can be segmented. The padding is never needed on the shapes (32 px, depth <= 5).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# The knobs' ranges, once (the page's sliders and the CLI read them).
WIDTH_RANGE = (4, 64)      # channels of the first level
DEPTH_RANGE = (1, 5)       # poolings: 32 px shapes have 1 px left at depth 5
# The knobs' defaults, once: three poolings take 32 px shapes to a 4 px bottleneck whose 3x3
# convolutions see the whole image; width 16 is ~0.47M parameters (tests/unit/test_segment.py).
# ``context`` is off by default (the textbook U-Net; a checkpoint whose spec predates the knob
# rebuilds without it); the segment task's defaults turn it on (playground/tasks/segment.py).
DEFAULTS = {"width": 16, "depth": 3, "skips": True, "context": False}


# What each knob does, once (the CLI's --unet help and its messages read this).
HELP = {"width": f"channels of the first level, {WIDTH_RANGE[0]} to {WIDTH_RANGE[1]}",
        "depth": f"times the image is halved, {DEPTH_RANGE[0]} to {DEPTH_RANGE[1]}",
        "skips": "skip connections, 1 or 0", "context": "a class gate from the whole image, 1 or 0"}
_BOOL = {"1": True, "true": True, "on": True, "yes": True, "0": False, "false": False, "off": False, "no": False}


class UNetError(ValueError):
    """Knobs a U-Net cannot be built with; the message says why in words."""


def _block(cin: int, cout: int) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by batch norm and ReLU (the U-Net's level)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """``in_channels`` -> ``num_classes`` scores per pixel. ``width``: channels of the first level
    (doubled at each level down); ``depth``: how many times the encoder halves the image;
    ``skips``: whether the decoder gets the encoder's features of its own size."""

    def __init__(self, in_channels: int = 3, num_classes: int = 2, *,
                 width: int = DEFAULTS["width"], depth: int = DEFAULTS["depth"],
                 skips: bool = DEFAULTS["skips"], context: bool = DEFAULTS["context"]) -> None:
        super().__init__()
        check_knobs(in_channels, num_classes, width, depth)
        self.depth, self.skips, self.context = int(depth), bool(skips), bool(context)
        widths = [width * 2 ** i for i in range(depth + 1)]           # level i's channels
        self.down = nn.ModuleList([_block(in_channels, widths[0])] +
                                  [_block(widths[i - 1], widths[i]) for i in range(1, depth + 1)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                                 for i in reversed(range(depth))])
        self.merge = nn.ModuleList([_block(widths[i] * (2 if skips else 1), widths[i])
                                    for i in reversed(range(depth))])
        self.head = nn.Conv2d(widths[0], num_classes, 1)
        # the image's context: bottleneck channels -> a score per object class (background: none)
        self.presence = nn.Linear(widths[-1], num_classes - 1) if self.context else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, 2 ** self.depth)
        kept = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))             # (N, width*2**i, H/2**i, W/2**i)
            kept.append(x)
        kept.pop()                                                     # the bottleneck is x itself
        gate = self.class_gate(x) if self.presence is not None else None
        for up, merge in zip(self.up, self.merge):
            x = up(x)                                                  # twice the size, half the channels
            skip = kept.pop()
            x = merge(torch.cat([skip, x], dim=1) if self.skips else x)
        scores = self.head(x)
        if gate is not None:
            scores = scores + gate[:, :, None, None]                   # the same at every pixel
        return scores[..., :h, :w]                                     # (N, classes, H, W)

    def class_gate(self, bottleneck: torch.Tensor) -> torch.Tensor:
        """(N, classes) what the image's context adds to each class's score at every pixel: 0
        for the background, log sigmoid(presence) <= 0 for each object class (near 0 for a class
        the image holds, very negative for one it does not), from the bottleneck averaged over
        the image."""
        present = F.logsigmoid(self.presence(bottleneck.mean(dim=(2, 3))))      # (N, classes - 1)
        return torch.cat([present.new_zeros(present.shape[0], 1), present], dim=1)


def check_knobs(in_channels: int, num_classes: int, width: int, depth: int) -> None:
    """UNetError when a knob is out of its range."""
    if not WIDTH_RANGE[0] <= int(width) <= WIDTH_RANGE[1]:
        raise UNetError(f"The U-Net's width must be {WIDTH_RANGE[0]} to {WIDTH_RANGE[1]} channels, not {width}.")
    if not DEPTH_RANGE[0] <= int(depth) <= DEPTH_RANGE[1]:
        raise UNetError(f"The U-Net's depth must be {DEPTH_RANGE[0]} to {DEPTH_RANGE[1]} levels down, not {depth}.")
    if int(in_channels) < 1 or int(num_classes) < 2:
        raise UNetError("A U-Net needs at least one input channel and two classes (background "
                        "and one object).")


def parse_pairs(pairs: list[str] | None) -> dict[str, int | bool]:
    """``["width=8", "context=0"]`` (the CLI's ``--unet``) -> the knobs given, checked (UNetError
    in words otherwise); knobs not given are left out, so the task's defaults fill them."""
    given: dict[str, int | bool] = {}
    for p in pairs or []:
        key, eq, value = (x.strip() for x in p.partition("="))
        if key not in HELP or not eq:
            raise UNetError(f"--unet {p!r}: write KEY=VALUE with a key of {', '.join(HELP)} "
                            "(e.g. width=8, context=0).")
        if key in ("skips", "context"):
            if value.lower() not in _BOOL:
                raise UNetError(f"--unet {p!r}: {key} is on or off: 1 or 0.")
            given[key] = _BOOL[value.lower()]
        elif not value.isdigit():
            raise UNetError(f"--unet {p!r}: {key} ({HELP[key]}) is a whole number.")
        else:
            given[key] = int(value)
    check_knobs(1, 2, int(given.get("width", WIDTH_RANGE[0])), int(given.get("depth", DEPTH_RANGE[0])))
    return given


def pad_to_multiple(x: torch.Tensor, m: int) -> torch.Tensor:
    """``x`` (N, C, H, W) padded at the bottom and right, by replicating its edge pixels, to
    sides that are multiples of ``m`` (unchanged when they already are)."""
    h, w = x.shape[-2:]
    ph, pw = -h % m, -w % m
    if not ph and not pw:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


def parameter_count(model: nn.Module) -> int:
    """Learnable numbers in a network (what the page shows as its size)."""
    return sum(p.numel() for p in model.parameters())


def unet_size(in_channels: int = 3, num_classes: int = 2, **knobs) -> int:
    """Parameters of the U-Net these knobs build, counted on the meta device (nothing allocated)."""
    with torch.device("meta"):
        return parameter_count(UNet(in_channels, num_classes, **knobs))
