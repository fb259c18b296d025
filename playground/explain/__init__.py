"""What a trained network does with one photo: filters, feature maps, attributions.

    >>> cam = grad_cam(model, x)             # x: normalized (1, C, H, W)
    >>> cam.shape == x.shape[-2:]

Rooms, in the order a page uses them:

- :mod:`.layers`: which layers there are (every module's output shape from the summary's
  meta-device tracer), the default Grad-CAM layer.
- :mod:`.classes`: class probabilities and the top classes.
- :mod:`.methods`: the attribution methods, one registry (:data:`METHODS`); :func:`grad_cam`
  is captum's ``LayerGradCam`` + ``LayerAttribution.interpolate``, :func:`attribute` adds
  Guided Grad-CAM, saliency, Integrated Gradients and occlusion, every one an ``(H, W)`` map in
  [0, 1] at the input's size.
- :mod:`.features`: feature maps, channel order, first-layer filters.
- :mod:`.kernels`: the kernel sandbox.
- :mod:`.attention`: a vision transformer's attention weights, rollout, per-head maps and
  Grad-CAM with the tokens as a grid.
- :mod:`.scores`: the share of a map on the object's mask (a pointing game).

Maps, kernels and weights may be given as numpy arrays (what pages hold); the answer comes in
the same kind.
"""
from .attention import (attention_maps, attention_rollout, attention_weights, head_maps, rollout_matrix,
                        vit_grad_cam)
from .classes import class_name, probabilities, top_class, topk
from .features import channel_order, conv_weights, feature_maps, filter_tiles, scale_maps
from .kernels import KERNELS, apply_kernel, most_similar_filter
from .layers import LayerInfo, cam_layers, default_cam_layer, spatial_layers, trace
from .methods import METHODS, Method, attribute, grad_cam, occlusion_window, peak
from .scores import MaskShare, mask_share

__all__ = ["KERNELS", "METHODS", "LayerInfo", "MaskShare", "Method", "apply_kernel", "attention_maps", "attention_rollout",
           "attention_weights", "attribute", "head_maps", "rollout_matrix",
           "cam_layers", "channel_order", "class_name", "conv_weights", "default_cam_layer", "feature_maps",
           "filter_tiles", "grad_cam", "mask_share", "most_similar_filter", "occlusion_window", "peak",
           "probabilities", "scale_maps", "spatial_layers", "top_class", "topk", "trace",
           "vit_grad_cam"]
