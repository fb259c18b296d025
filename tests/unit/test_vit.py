"""Vision transformers: the patch embedding is unfold + linear, the inspector's ViT numbers are
the tracer's (and torchvision's table), attention rollout's rows sum to 1 and its map has the
image's size, and the weights read through hooks are the ones the module computes."""
import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import VisionTransformer

from playground import explain
from playground.networks import zoo
from playground.networks.patches import patches_as_linear, vit_facts
from playground.summary import summarize
from playground.figures import attention as fig_att


def tiny_vit(image=32, patch=8, layers=2, heads=3, dim=24, classes=5) -> VisionTransformer:
    torch.manual_seed(0)
    model = VisionTransformer(image_size=image, patch_size=patch, num_layers=layers, num_heads=heads,
                              hidden_dim=dim, mlp_dim=2 * dim, num_classes=classes).eval()
    nn.init.normal_(model.heads.head.weight)      # torchvision starts the head at zero: no gradient
    return model


# ------------------------------------------------------------------------------------------
# the zoo and the patch embedding
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["vit_b_32", "swin_t"])
def test_zoo_transformers_totals_equal_torchvisions_table(name):
    """vit_b_16 is pinned in test_summary; the other two transformers the inspector offers."""
    assert "inspect" in zoo.ZOO[name].uses
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    s = summarize({"torchvision": name}, (3, 224, 224))
    assert s.error is None
    assert s.total_params == meta["num_params"]
    assert round(s.total_macs / 1e9, 3) == meta["_ops"], (s.total_macs, meta["_ops"])


@pytest.mark.parametrize("patch,side,channels", [(16, 224, 3), (8, 32, 3), (4, 28, 1), (7, 21, 2)])
def test_patch_embedding_is_unfold_plus_linear(patch, side, channels):
    torch.manual_seed(patch)
    conv = nn.Conv2d(channels, 24, kernel_size=patch, stride=patch)
    x = torch.randn(2, channels, side, side)
    want = conv(x).flatten(2).transpose(1, 2)                # (B, patches, dim), row-major
    got = patches_as_linear(conv, x)
    assert got.shape == (2, (side // patch) ** 2, 24)
    assert torch.allclose(got, want, atol=1e-5)


def test_patch_embedding_refuses_overlapping_convs():
    with pytest.raises(Exception, match="Not a patch embedding"):
        patches_as_linear(nn.Conv2d(3, 8, 3, stride=1, padding=1), torch.randn(1, 3, 8, 8))


def test_vit_b_16_facts():
    f = vit_facts({"torchvision": "vit_b_16"})
    assert (f.patch, f.dim, f.layers, f.heads, f.mlp_dim) == (16, 768, 12, 12, 3072)
    assert f.grid() == 14 and f.tokens() == 197 and f.patch_values == 768
    assert vit_facts({"torchvision": "resnet18"}) is None
    assert vit_facts({"torchvision": "swin_t"}) is None


@pytest.mark.parametrize("image,patch", [(224, 16), (224, 32), (64, 8), (96, 16)])
def test_cost_formula_equals_the_tracer(image, patch):
    """The cost plot's numbers are the tracer's: the formula's total equals summarize's MACs
    at every size (so the tokens^2 term is what the model really does)."""
    with torch.device("meta"):
        model = VisionTransformer(image_size=image, patch_size=patch, num_layers=3, num_heads=4,
                                  hidden_dim=64, mlp_dim=128, num_classes=10)
    f = vit_facts(model)
    assert f.total_macs(image) == summarize(model, (3, image, image)).total_macs


def test_cost_curve_grows_with_the_square_of_tokens():
    f = vit_facts({"torchvision": "vit_b_16"})
    rows = f.cost_curve(f.sides())
    assert 224 in [r["side"] for r in rows]
    a, b = f.attention_macs(224), f.attention_macs(448)
    assert b / a == pytest.approx((f.tokens(448) / f.tokens(224)) ** 2)
    fig = fig_att.attention_cost(rows, f.dim)
    assert len(fig.data) == 2 and len(fig.data[0].x) == len(rows)


# ------------------------------------------------------------------------------------------
# attention weights and rollout
# ------------------------------------------------------------------------------------------
def test_hooked_weights_equal_an_explicit_recomputation():
    model = tiny_vit()
    x = torch.randn(1, 3, 32, 32)
    seen = []
    block = model.encoder.layers[1]
    h = block.ln_1.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    weights = explain.attention_weights(model, x)
    h.remove()
    assert len(weights) == 2 and weights[1].shape == (3, 17, 17)
    mha, z = block.self_attention, seen[0][0]                  # (T, dim)
    q, k, _ = (z @ mha.in_proj_weight.T + mha.in_proj_bias).chunk(3, dim=-1)
    hd = mha.head_dim
    q, k = q.view(-1, 3, hd).transpose(0, 1), k.view(-1, 3, hd).transpose(0, 1)
    want = torch.softmax(q @ k.transpose(1, 2) / hd ** 0.5, dim=-1)
    assert torch.allclose(weights[1], want, atol=1e-5)
    # the hooks are gone and the output is unchanged
    assert not mha._forward_pre_hooks and not mha._forward_hooks
    with torch.no_grad():
        assert torch.allclose(model(x), model(x))


def test_rollout_rows_sum_to_one_and_map_has_the_images_size():
    model = tiny_vit(image=48, patch=8)
    x = torch.randn(1, 3, 48, 48)
    roll = explain.rollout_matrix(explain.attention_weights(model, x))
    assert roll.shape == (37, 37)
    assert torch.allclose(roll.sum(-1), torch.ones(37), atol=1e-5)
    assert (roll >= 0).all()
    heat = explain.attention_rollout(model, x)
    assert heat.shape == (48, 48) and float(heat.max()) == pytest.approx(1.0) and float(heat.min()) >= 0
    heads = explain.head_maps(model, x)
    assert heads.shape == (3, 48, 48)


def test_rollout_of_identity_attention_is_identity():
    """Tokens that attend only to themselves pass nothing on: the rollout is the identity."""
    w = [torch.eye(5).expand(2, 5, 5) for _ in range(3)]
    assert torch.allclose(explain.rollout_matrix(w), torch.eye(5))


def test_rollout_follows_where_the_class_token_looks():
    """Uniform attention in every layer but the class token attending to patch 3 only in the
    last one: the rollout's class row peaks at patch 3."""
    t = 5
    uni = torch.full((1, t, t), 1 / t)
    last = uni.clone()
    last[0, 0] = torch.nn.functional.one_hot(torch.tensor(3), t).float()
    roll = explain.rollout_matrix([uni, uni, last])
    assert int(roll[0, 1:].argmax()) == 2               # patch 3 is token 3, index 2 without the class token


def test_cnns_are_refused_in_words():
    with pytest.raises(ValueError, match="no attention layer"):
        explain.attention_rollout(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()), torch.randn(1, 3, 8, 8))


# ------------------------------------------------------------------------------------------
# MAC conventions: the inspector's (torchvision's table) and torchinfo's
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mnist_simple_cnn", "vit_b_16"])
def test_torchinfo_convention_equals_torchinfos_own_summary(name):
    """torchinfo_macs (meta device, from a spec) equals torchinfo run the ordinary way on the
    real CPU module; and it differs from the inspector's count the way the page says."""
    import torchinfo
    from playground import networks
    from playground.summary import torchinfo_macs

    spec = {"torchvision": name} if name.startswith("vit") else networks.preset(name)
    shape = tuple(spec.get("input_shape", (3, 224, 224)))
    real = networks.build({**spec, "weights": None} if "torchvision" in spec else spec).eval()
    want = torchinfo.summary(real, input_size=(1, *shape), verbose=0).total_mult_adds
    assert torchinfo_macs(spec, shape) == want == torchinfo_macs(real, shape)
    ours = summarize(spec, shape).total_macs
    if name.startswith("vit"):
        assert want < ours / 50          # a Linear on tokens counted once per image
    else:
        assert ours < want < ours * 1.05  # plus biases and normalisation (3.8 % here)


# ------------------------------------------------------------------------------------------
# Grad-CAM with the tokens as a grid
# ------------------------------------------------------------------------------------------
def test_token_maps_are_laid_out_row_major_like_the_patches():
    """Token k (after the class token) is the patch at row k // g, column k % g: the order of
    conv_proj's output flattened, which is unfold's. The class token looking only at patch 6
    of a 4 x 4 grid: the rollout's map peaks at row 1, column 2."""
    t = 17
    last = torch.full((1, t, t), 1 / t)
    last[0, 0] = torch.nn.functional.one_hot(torch.tensor(1 + 6), t).float()
    from playground.explain.attention import token_grid
    heat = token_grid(explain.rollout_matrix([last])[0, 1:], (4, 4))
    assert tuple((heat == heat.max()).nonzero()[0].tolist()) == (1, 2)


def test_vit_grad_cam_equals_pytorch_grad_cams_reshape_convention():
    model = tiny_vit(image=32, patch=8)
    x = torch.randn(1, 3, 32, 32)

    def reshape_transform(t, g=4):        # pytorch-grad-cam's ViT tutorial
        return t[:, 1:, :].reshape(t.size(0), g, g, t.size(2)).permute(0, 3, 1, 2)

    nonzero = 0
    for target in range(5):
        got = explain.vit_grad_cam(model, x, target=target)
        assert got.shape == (32, 32) and float(got.min()) >= 0 and float(got.max()) <= 1
        acts = []
        h = model.encoder.layers[-1].ln_1.register_forward_hook(lambda m, i, o: acts.append(o))
        grad = torch.autograd.grad(model(x)[0, target], acts[0])[0]
        h.remove()
        a, gr = reshape_transform(acts[0].detach()), reshape_transform(grad)
        cam = torch.relu((gr.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
        cam = torch.nn.functional.interpolate(cam, size=(32, 32), mode="bilinear", align_corners=False)[0, 0]
        cam = cam / cam.max() if cam.max() > 0 else cam
        assert torch.allclose(got, cam, atol=1e-5)
        nonzero += int(cam.max() > 0)
    assert nonzero >= 1


def test_weights_are_read_when_a_block_passes_need_weights_positionally():
    """A learner's own block may call attention(x, x, x, None, False): still read."""

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.att = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):                       # (1, 1, 5, 8) image-shaped for check_image
            y, _ = self.att(x[0], x[0], x[0], None, False)
            return y

    w = explain.attention_weights(Block().eval(), torch.randn(1, 1, 5, 8))
    assert len(w) == 1 and w[0].shape == (2, 5, 5)
    assert torch.allclose(w[0].sum(-1), torch.ones(2, 5), atol=1e-5)


# ------------------------------------------------------------------------------------------
# explanations you can check: the share of a map on the object's mask
# ------------------------------------------------------------------------------------------
def test_mask_share_on_hand_made_maps():
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[:2, :2] = True
    assert explain.mask_share(mask.float(), mask).inside == 1.0
    even = explain.mask_share(torch.ones(4, 4), mask.numpy())
    assert even.inside == pytest.approx(0.25) == even.chance
    assert explain.mask_share(-torch.ones(4, 4), mask).inside == 0.0        # nothing positive
    assert "100 % of it on the shape" in explain.mask_share(mask.float(), mask).text()
    with pytest.raises(ValueError, match="same"):
        explain.mask_share(torch.ones(3, 3), mask)


def test_every_method_scores_above_chance_on_the_shipped_model():
    """Every attribution method on the shipped shapes model puts more of its map on the object
    than an even map would (here: Grad-CAM 0.56, saliency 0.31 against 0.20 on 24 shapes)."""
    from playground import checkpoints
    from playground.data import make_shapes
    from playground.models import default_model_path

    ck = checkpoints.load_checkpoint(default_model_path())
    model = ck.model.eval()
    data = make_shapes(8, size=ck.input_shape[1], seed=901)
    mean, std = torch.tensor(ck.mean).view(1, -1, 1, 1), torch.tensor(ck.std).view(1, -1, 1, 1)
    x = (data.images.float() / 255 - mean) / std
    chance = sum(float(m.float().mean()) for m in data.masks) / len(x)
    for name in explain.METHODS:
        shares = [explain.mask_share(explain.attribute(name, model, x[i:i + 1], int(data.labels[i])),
                                     data.masks[i]).inside for i in range(len(x))]
        assert sum(shares) / len(x) > 1.3 * chance, (name, shares, chance)


# ------------------------------------------------------------------------------------------
# the tiny ViT a run trains (playground/networks/vit.py)
# ------------------------------------------------------------------------------------------
SMALL = {"patch_size": 8, "depth": 2, "heads": 2, "hidden_dim": 32, "mlp_dim": 64}   # fast tests


def test_tiny_vit_defaults_build_torchvisions_class_at_the_shapes_size():
    from playground.networks import vit
    from playground.training.model import build_network, model_size

    model, spec, shape = build_network({"vit": {}}, (3, 32, 32), 8)
    assert isinstance(model, VisionTransformer) and shape == (3, 32, 32)
    assert spec["vit"] == vit.VIT_DEFAULTS and spec["num_classes"] == 8     # every knob recorded
    assert 50_000 <= sum(p.numel() for p in model.parameters()) <= 150_000     # the CNN's 0.11 M
    f = vit_facts(model)
    assert (f.patch, f.grid(), f.tokens(), f.layers, f.heads) == (8, 4, 17, 2, 4)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 8)
    grey = model_size({"vit": {**SMALL, "patch_size": 7}}, (1, 28, 28), 10)          # MNIST-like: own patch embedding
    assert grey.problem == "" and grey.total > 0


@pytest.mark.parametrize("knobs,shape,words", [
    ({"patch_size": 5}, (3, 32, 32), "does not cut into whole 5 px patches"),
    ({"heads": 3}, (3, 32, 32), "does not split into 3 heads"),
    ({"depht": 2}, (3, 32, 32), "no setting 'depht'"),
    ({"depth": 0}, (3, 32, 32), "depth .* must be a whole number from 1"),
    ({}, (3, 32, 48), "square images"),
])
def test_bad_vit_knobs_are_refused_in_words(knobs, shape, words):
    from playground.training.model import build_network, model_size

    with pytest.raises(Exception, match=words):
        build_network({"vit": knobs}, shape, 8)
    assert model_size({"vit": knobs}, shape, 8).problem     # the page's form says why


def test_the_cli_builds_vit_tiny_with_its_knobs_and_refuses_bad_ones():
    from playground import cli
    from playground.cli_args import run_config

    cfg = run_config(cli.parser().parse_args(["train", "--task", "classify", "--model", "vit-tiny", "--vit", "depth=3",
                                              "--vit", "patch_size=8"]))
    assert cfg.model == {"vit": {"patch_size": 8, "depth": 3, "heads": 4, "hidden_dim": 64, "mlp_dim": 128}}
    assert cfg.label().startswith("vit-tiny")
    with pytest.raises(SystemExit, match="must be a multiple of the number of heads"):
        run_config(cli.parser().parse_args(["train", "--task", "classify", "--model", "vit-tiny", "--vit", "heads=5"]))
    with pytest.raises(SystemExit, match="KEY=NUMBER"):
        run_config(cli.parser().parse_args(["train", "--task", "classify", "--model", "vit-tiny", "--vit", "depth"]))


def test_tiny_vit_trains_with_falling_loss_and_its_checkpoint_rebuilds_it(tmp_path):
    from playground import checkpoints
    from playground.data import load_data
    from playground.training.model import build_network

    ds = load_data({"name": "shapes", "n_train": 64, "n_val": 8, "texture": 0.0})
    x, y = (ds.train_x.float() / 255 - 0.5) / 0.25, ds.train_y
    torch.manual_seed(0)
    model, spec, shape = build_network({"vit": SMALL}, ds.input_shape, ds.num_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5, losses
    path = tmp_path / "vit.pt"
    checkpoints.save_checkpoint(path, model, spec=spec, class_names=ds.class_names,
                                input_shape=list(shape), mean=[0.5] * 3, std=[0.25] * 3)
    ck = checkpoints.load_checkpoint(path)
    assert isinstance(ck.model, VisionTransformer) and ck.spec["vit"]["patch_size"] == 8
    with torch.no_grad():
        assert torch.allclose(ck.model.eval()(x[:4]), model.eval()(x[:4]), atol=1e-6)


def test_a_checkpoint_with_bad_vit_knobs_is_refused(tmp_path):
    from playground import checkpoints
    from playground.training.model import build_network

    model, spec, _ = build_network({"vit": SMALL}, (3, 32, 32), 3)
    path = tmp_path / "bad.pt"
    checkpoints.save_checkpoint(path, model, spec={**spec, "vit": {**SMALL, "heads": 3}},
                                class_names=["a", "b", "c"], input_shape=[3, 32, 32], mean=[0.5] * 3,
                                std=[0.25] * 3)
    with pytest.raises(checkpoints.CheckpointError, match="does not split into 3 heads"):
        checkpoints.load_checkpoint(path)


def test_rollout_and_heads_on_vit_tiny_defaults_at_32_px():
    from playground.training.model import build_network

    torch.manual_seed(0)
    model, _, _ = build_network({"vit": {}}, (3, 32, 32), 8)
    x = torch.randn(1, 3, 32, 32)
    weights = explain.attention_weights(model, x)
    assert len(weights) == 2 and weights[0].shape == (4, 17, 17)
    roll = explain.rollout_matrix(weights)
    assert torch.allclose(roll.sum(-1), torch.ones(17), atol=1e-5)
    heat, heads = explain.attention_maps(model, x)
    assert heat.shape == (32, 32) and heads.shape == (4, 32, 32)
    assert explain.vit_grad_cam(model, x).shape == (32, 32)
