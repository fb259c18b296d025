"""What a MAC count counts: the inspector's convention, and torchinfo's beside it.

The inspector (and torchvision's published table) counts the multiply-accumulates of
convolutions and matrix products, attention's included (``torch.utils.flop_counter``'s FLOPs
/ 2). torchinfo, which many notebooks use to cross-check, counts differently: for every layer
with weights, its parameters times its output positions (a convolution's bias once per output
pixel, normalisation layers' scales and shifts), but a ``Linear`` once per *image*, not per
token, and attention as its parameters times the tokens. On a CNN the two agree within a few
percent (resnet18: 0.0006 % apart, the course's MNIST CNN: 3.8 %); on a vision transformer torchinfo says about 1 % of the inspector's count (vit_b_16:
0.17 billion against 17.56). :func:`torchinfo_macs` gives torchinfo's own number, computed on
the meta device (no weights, no arithmetic: 0.1 s for vit_b_16), so a learner's cross-check
agrees with the page.
"""
from __future__ import annotations

from torch import nn

from ..networks import SpecError
from .trace import meta_model

INSPECTOR = ("convolutions and matrix products (attention's included), one multiply-add each, "
             "as torchvision's published table counts them")
TORCHINFO = ("every layer's parameters times its output positions: adds biases and "
             "normalisation layers, but counts a Linear on tokens once per image, not per token")


def torchinfo_macs(model: nn.Module | dict, input_shape: tuple[int, int, int]) -> int:
    """torchinfo's ``total_mult_adds`` for one ``input_shape`` (C, H, W) image of ``model`` (a
    module or a spec), computed on a meta-device copy. Raises :class:`SpecError` in words when
    the network does not run on that input."""
    import torchinfo

    net = meta_model(model).eval()
    try:
        stats = torchinfo.summary(net, input_size=(1, *input_shape), device="meta", verbose=0)
    except Exception as e:  # noqa: BLE001 - torchinfo wraps the network's own failure
        raise SpecError(f"torchinfo could not run this network on a {input_shape} input: "
                        f"{type(e).__name__}: {str(e)[:300]}") from e
    return int(stats.total_mult_adds)
