"""playground.explain: Grad-CAM equals the plain hook computation, the default layer is the last
spatial one, every attribution is a (H, W) map in [0, 1], feature maps and kernels are what
PyTorch computes, and on the shipped default model Grad-CAM peaks on the object."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from playground import checkpoints, explain, networks
from playground.data import make_shapes
from playground.models import default_model_path

torch.set_num_threads(1)


def hook_grad_cam(model: nn.Module, x: torch.Tensor, target: int, layer: nn.Module) -> torch.Tensor:
    """Grad-CAM written out by hand: activations and their gradients from hooks."""
    store = {}

    def fwd(_m, _i, out):
        store["a"] = out
        out.register_hook(lambda g: store.__setitem__("g", g))

    h = layer.register_forward_hook(fwd)
    try:
        model.zero_grad()
        score = model(x)[0, target]
        score.backward()
    finally:
        h.remove()
    a, g = store["a"].detach(), store["g"].detach()
    weights = g.mean(dim=(2, 3), keepdim=True)             # alpha_k: mean gradient per channel
    cam = F.relu((weights * a).sum(dim=1, keepdim=True))    # ReLU(sum_k alpha_k A_k)
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    return cam / cam.max()


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


@pytest.fixture(scope="module")
def spec_net():
    torch.manual_seed(1)
    net = networks.build(networks.preset("small_resnet"))
    return net.eval()


def test_default_layer_is_last_spatial(resnet, spec_net):
    assert explain.default_cam_layer(resnet, (3, 224, 224)) == "layer4"
    assert explain.default_cam_layer(resnet, (3, 64, 64)) == "layer4"      # 2 x 2: still spatial
    assert explain.default_cam_layer(resnet, (3, 32, 32)) == "layer3"      # layer4 is 1 x 1 there
    assert explain.default_cam_layer(spec_net) == "res6"
    shapes = networks.build(networks.preset("shapes_cnn"))
    assert explain.default_cam_layer(shapes) == "relu5"                  # conv5 -> bn5 -> relu5
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    with pytest.raises(ValueError, match="no convolutional"):
        explain.default_cam_layer(mlp, (3, 2, 2))


def test_trace_shapes_equal_a_real_forward(resnet):
    x = torch.randn(1, 3, 96, 96)
    real = {}
    hooks = [m.register_forward_hook(lambda _m, _i, o, n=n: real.__setitem__(n, tuple(o.shape[1:])))
             for n, m in resnet.named_modules() if n]
    with torch.no_grad():
        resnet(x)
    for h in hooks:
        h.remove()
    traced = {i.name: i.shape for i in explain.trace(resnet, (3, 96, 96))}
    assert traced == real
    names = [i.name for i in explain.spatial_layers(resnet, (3, 96, 96))]
    assert names[0] == "conv1" and "maxpool" in names and names[-1] == "layer4"


@pytest.mark.parametrize("layer", ["layer4", "layer3", "layer4.1.conv2", "layer2.0"])
def test_grad_cam_equals_hook_computation_resnet(resnet, layer):
    torch.manual_seed(2)
    x = torch.randn(1, 3, 96, 96)
    target = 7
    cam = explain.grad_cam(resnet, x, target=target, layer=resnet.get_submodule(layer))
    ref = hook_grad_cam(resnet, x, target, resnet.get_submodule(layer))
    assert cam.shape == (96, 96)
    assert float(cam.max()) == pytest.approx(1.0)
    assert torch.allclose(cam, ref, atol=1e-5)


def test_grad_cam_equals_hook_computation_spec_net_defaults(spec_net):
    torch.manual_seed(3)
    x = torch.randn(1, 3, 32, 32)
    cam = explain.grad_cam(spec_net, x)                        # top class, default layer
    top = int(spec_net(x).argmax())
    ref = hook_grad_cam(spec_net, x, top, spec_net.get_submodule("res6"))
    assert torch.allclose(cam, ref, atol=1e-5)
    # a layer given by name is the same module
    assert torch.allclose(explain.grad_cam(spec_net, x, top, "res6"), cam)


def test_grad_cam_rejects_a_batch(spec_net):
    with pytest.raises(ValueError, match=r"\(1, C, H, W\)"):
        explain.grad_cam(spec_net, torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize("method", list(explain.METHODS))
def test_every_method_gives_a_map_in_unit_range(spec_net, method):
    torch.manual_seed(4)
    x = torch.randn(1, 3, 32, 32)
    a = explain.attribute(method, spec_net, x, target=3, steps=8)
    assert a.shape == (32, 32)
    assert torch.isfinite(a).all() and float(a.min()) >= 0 and float(a.max()) == pytest.approx(1.0)


def test_guided_grad_cam_on_inplace_relus_leaves_the_model_unchanged(resnet):
    x = torch.randn(1, 3, 64, 64)
    before = resnet(x).detach()
    a = explain.attribute("Guided Grad-CAM", resnet, x, target=1)
    assert a.shape == (64, 64)
    assert all(m.inplace for m in resnet.modules() if isinstance(m, nn.ReLU))
    assert torch.equal(resnet(x).detach(), before)


def test_saliency_is_the_input_gradient(spec_net):
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    spec_net(x)[0, 5].backward()
    ref = x.grad[0].abs().amax(0)
    assert torch.allclose(explain.attribute("Saliency", spec_net, x.detach(), 5), ref / ref.max(), atol=1e-6)


def test_unknown_method(spec_net):
    with pytest.raises(ValueError, match="Unknown"):
        explain.attribute("LIME", spec_net, torch.randn(1, 3, 32, 32), 0)


def test_probabilities_and_topk(spec_net):
    x = torch.randn(1, 3, 32, 32)
    p = explain.probabilities(spec_net, x)
    assert p.shape == (10,) and float(p.sum()) == pytest.approx(1.0, abs=1e-5)
    rows = explain.topk(p, [f"c{i}" for i in range(10)], 3)
    assert [r[0] for r in rows] == p.argsort(descending=True)[:3].tolist()
    assert rows[0][1] == f"c{rows[0][0]}" and rows[0][2] >= rows[1][2] >= rows[2][2]
    assert explain.topk(p, [], 1)[0][1].startswith("class ")
    assert explain.topk(p.numpy(), [f"c{i}" for i in range(10)], 3) == rows     # what pages hold


def test_feature_maps_are_every_conv_and_pool_output():
    net = networks.build(networks.preset("simple_cnn_cifar10")).eval()
    x = torch.randn(1, 3, 32, 32)
    maps = explain.feature_maps(net, x)
    assert list(maps) == ["conv1", "pool1", "conv2", "pool2", "conv3", "pool3"]
    with torch.no_grad():
        ref = net.pool1(net.relu1(net.conv1(x)))[0]
    assert torch.allclose(maps["pool1"], ref)
    assert maps["conv3"].shape == (128, 8, 8)
    order = explain.channel_order(maps["conv1"], "strength")
    means = maps["conv1"].flatten(1).mean(1)
    assert means[order[0]] == means.max() and means[order[-1]] == means.min()
    assert explain.channel_order(maps["conv1"], "index") == list(range(32))
    s = explain.scale_maps(maps["conv2"])
    assert float(s.min()) >= 0 and float(s.max()) <= 1
    # pages hand over read-only numpy arrays (cached) and get numpy back
    a = maps["conv2"].numpy()
    a.flags.writeable = False
    assert torch.allclose(torch.from_numpy(explain.scale_maps(a)), s)
    assert explain.channel_order(a, "peak") == explain.channel_order(maps["conv2"], "peak")
    assert explain.peak(a[0]) == explain.peak(maps["conv2"][0])


def test_apply_kernel_is_conv2d_and_finds_a_vertical_edge():
    g = torch.zeros(12, 12)
    g[:, 6:] = 1.0                                    # a vertical step edge between columns 5 and 6
    k = explain.KERNELS["Vertical edges (course)"]
    out = explain.apply_kernel(g, k)
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    conv.weight.data = torch.tensor(k, dtype=torch.float32)[None, None]
    assert torch.allclose(out, conv(g[None, None])[0, 0].detach())
    inner = out[1:-1, 1:-1]                           # away from the zero padding
    cols = inner.abs().sum(0).nonzero().flatten() + 1
    assert set(cols.tolist()) == {5, 6}               # responds only at the edge
    assert float(explain.apply_kernel(g, explain.KERNELS["Horizontal edges (course)"])[1:-1, 1:-1].abs().max()) == 0
    assert torch.allclose(torch.from_numpy(explain.apply_kernel(g.numpy(), k)), out)
    with pytest.raises(ValueError):
        explain.apply_kernel(g, [[1, 2], [3, 4]])
    with pytest.raises(ValueError):
        explain.apply_kernel(g, [[float("nan")] * 3] * 3)


def test_most_similar_filter_finds_a_planted_kernel():
    torch.manual_seed(5)
    conv = nn.Conv2d(3, 16, 3)
    sobel = torch.tensor(explain.KERNELS["Sobel x"], dtype=torch.float32)
    conv.weight.data[9] = sobel / 3                    # the same on every colour channel
    i, cos, comp = explain.most_similar_filter(conv.weight, sobel)
    assert i == 9 and cos == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(comp, sobel)
    # a 7 x 7 first layer (resnet18) is compared at 3 x 3
    i7, cos7, comp7 = explain.most_similar_filter(torch.randn(64, 3, 7, 7), sobel)
    assert comp7.shape == (3, 3) and -1 <= cos7 <= 1


def test_filter_tiles():
    w = torch.randn(8, 3, 5, 5)
    t = explain.filter_tiles(w)
    assert t.shape == (8, 5, 5, 3) and float(t.min()) >= 0 and float(t.max()) <= 1
    assert explain.filter_tiles(torch.randn(4, 1, 3, 3)).shape == (4, 3, 3)
    assert torch.allclose(torch.from_numpy(explain.filter_tiles(w.numpy())), t)


def test_conv_weights_are_read_only_views_of_the_model():
    net = networks.build(networks.preset("simple_cnn_cifar10"))
    w = explain.conv_weights(net)
    assert list(w) == ["conv1", "conv2", "conv3"]
    assert w["conv1"].shape == tuple(net.conv1.weight.shape) and not w["conv1"].flags.writeable
    assert (w["conv2"] == net.conv2.weight.detach().numpy()).all()


# ---------------------------------------------------------------------------------- the default model
def _cams(n: int, seed: int, classes=None):
    """Grad-CAM of the true class at the default layer for ``n`` fresh shapes (seeds >= 777 are
    never training seeds), with each object's mask and class."""
    path = default_model_path()
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make default-model`.")
    ck = checkpoints.load_checkpoint(path)
    model = ck.model.eval()
    kw = {} if classes is None else {"classes": classes}
    data = make_shapes(n, size=ck.input_shape[1], seed=seed, **kw)
    mean = torch.tensor(ck.mean).view(1, -1, 1, 1)
    std = torch.tensor(ck.std).view(1, -1, 1, 1)
    x = (data.images.float() / 255 - mean) / std
    layer = explain.default_cam_layer(model, tuple(x.shape[1:]))
    out = []
    for i in range(len(x)):
        cam = explain.grad_cam(model, x[i:i + 1], target=int(data.labels[i]), layer=layer)
        out.append((cam, data.masks[i], data.class_names[int(data.labels[i])]))
    return out


@pytest.fixture(scope="module")
def default_cams():
    return _cams(200, seed=777)


def peak_rate(cams) -> float:
    return sum(bool(mask[explain.peak(cam)]) for cam, mask, _ in cams) / len(cams)


def test_grad_cam_peaks_on_the_object_with_the_default_model(default_cams):
    """Done means: on the shipped model the Grad-CAM peak lies inside the object's mask on >= 90%
    of a fresh generated test set; and Grad-CAM is stronger on the object than around it."""
    assert peak_rate(default_cams) >= 0.90
    stronger = sum(bool(cam[mask].mean() > cam[~mask].mean()) for cam, mask, _ in default_cams)
    assert stronger / len(default_cams) >= 0.95


def test_grad_cam_peaks_on_the_object_for_every_class(default_cams):
    """No class is left behind, concave ones (cross, star) included."""
    by_class: dict[str, list] = {}
    for c in default_cams:
        by_class.setdefault(c[2], []).append(c)
    rates = {k: peak_rate(v) for k, v in by_class.items()}
    assert len(rates) == 8 and min(rates.values()) >= 0.7, rates


# ---------------------------------------------------------------------------------- figures
def test_figures_hold_the_data_they_are_given():
    import numpy as np

    from playground.figures import explain as fx

    rows = [(3, "star", 0.7), (1, "square", 0.2), (0, "circle", 0.1)]
    bar = fx.topk_bar(rows)
    assert list(bar.data[0].y) == ["circle", "square", "star"]          # best on top
    assert list(bar.data[0].x) == pytest.approx([10.0, 20.0, 70.0])
    assert bar.layout.xaxis.title.text == "probability (%)"

    tiles = np.stack([np.full((4, 4), i / 9) for i in range(10)])
    m, corners = fx.mosaic(tiles, cols=4, gap=1, fill=-1.0)
    assert m.shape == (3 * 5 - 1, 4 * 5 - 1) and corners[5] == (5, 5)
    assert (m[5:9, 5:9] == tiles[5]).all() and m[4, 0] == -1.0
    grid = fx.feature_image(tiles, [f"ch {i}" for i in range(10)], cols=4, min_px=8)
    untitled = fx.feature_image(tiles, [""] * 10, cols=4, min_px=8)
    top = fx.TITLE_PX + 6                                  # tiles enlarged x2, a title above each row
    assert grid.dtype == np.uint8 and grid.shape == untitled.shape == (top + 3 * (8 + 2 + top) - 2 - top, 4 * 10 - 2)
    assert (grid[top:top + 8, 10:18] == round(255 * 1 / 9)).all()             # tile 1, crisp
    assert (untitled[:top] == 255).all() and (grid[:top, :8] < 128).any()     # "ch 0" is written

    w = torch.randn(6, 3, 3)
    wg = fx.weight_grid(w, [f"in ch {i}" for i in range(6)], cols=3)
    z = np.array(wg.data[0].z, dtype=float)
    assert np.allclose(z[4:7, 4:7], w[4].numpy())                        # tile 4: row 1, col 1
    assert wg.data[0].zmin == -wg.data[0].zmax == -float(w.abs().max())
