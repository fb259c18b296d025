"""The inspector on vision transformers: vit_b_16 shows its patch panel (patch size, tokens, the
equation, attention's cost plot), its totals match torchvision's table, and torchinfo's MAC
count is shown beside the page's on request. A CNN shows no ViT panel. Look inside: a ViT's
attention tab (rollout, Grad-CAM, per head), a CNN's says what the tab is for; on a generated
shape every map gets its share on the shape."""
from playground import code
from tests.app.helpers import assert_ok, by_key, page, texts


def test_inspector_shows_the_vit_panel_for_vit_b_16():
    at = page("network").run()
    at.selectbox(key="net_source").set_value("tv:vit_b_16").run()
    assert_ok(at)
    assert any(m.label == "Parameters" and m.value == "86,567,656" for m in at.metric)
    assert any(m.label == "MACs per image" and m.value == "17.56 billion" for m in at.metric)
    text = texts(at)
    assert "A vision transformer: the image as patches" in text
    assert "Patch size 16 x 16" in text and "14 x 14 = 196 patches" in text
    assert "197 tokens" in text
    assert any(r"W \in \mathbb{R}^{768\times 768}" in str(e.value) for e in at.latex)
    at.toggle(key="net_torchinfo").set_value(True).run()
    assert_ok(at)
    assert "torchinfo's `Total mult-adds`: **173,232,616**" in texts(at)


def test_a_cnn_has_no_vit_panel_but_the_macs_note():
    at = page("network").run()
    assert_ok(at)
    assert "the image as patches" not in texts(at)
    by_key(at.toggle, "net_torchinfo").set_value(True)
    at.run()
    assert_ok(at)
    assert "torchinfo's `Total mult-adds`" in texts(at)


# ------------------------------------------------------------------------------------------
# Look inside: the attention tab
# ------------------------------------------------------------------------------------------
TINY_VIT = '''from torchvision.models import VisionTransformer


class TinyViT(VisionTransformer):
    """A small ViT from torchvision's own class: 4 x 4 patches of 8 px, 2 layers, 3 heads."""

    def __init__(self):
        super().__init__(image_size=32, patch_size=8, num_layers=2, num_heads=3, hidden_dim=24,
                         mlp_dim=48, num_classes=3)
'''


def vit_checkpoint() -> bytes:
    """A checkpoint of the tiny ViT as pasted code (the way a learner's own ViT travels)."""
    import os
    from pathlib import Path

    import torch
    from playground import checkpoints

    torch.manual_seed(0)
    spec = code.code_spec(TINY_VIT, "TinyViT", [3, 32, 32])
    path = Path(os.environ["PLAYGROUND_RUNS_DIR"]).parent / "app-test-tiny-vit.pt"
    checkpoints.save_checkpoint(path, code.rebuild(spec).eval(), spec=spec,
                                class_names=["circle", "square", "triangle"],
                                input_shape=[3, 32, 32], mean=[0.5] * 3, std=[0.25] * 3)
    return path.read_bytes()


def open_attention(at) -> None:
    at.session_state["inside_tab"] = "Attention"
    at.run()
    assert_ok(at)


def test_look_inside_shows_a_vits_rollout_and_heads(monkeypatch):
    monkeypatch.setenv(code.ENV, "1")        # the tiny ViT travels as pasted code
    at = page("inside").run()
    assert_ok(at)
    by_key(at.selectbox, "model_select").set_value("__upload__").run()
    by_key(at.get("file_uploader"), "model_upload").set_value(
        ("tiny-vit.pt", vit_checkpoint(), "application/octet-stream"))
    at.run()
    by_key(at.radio, "image_source").set_value("Generated shape").run()
    assert_ok(at)
    open_attention(at)
    text = texts(at)
    assert "4 x 4 patches of 8 px" in text and "17 tokens" in text
    assert "Attention rollout" in text and "The last layer's 3 heads" in text
    captions = [img.caption for im in at.get("image") for img in im.proto.imgs]
    assert [f"head {h}" for h in range(3)] == [c for c in captions if c.startswith("head")], captions
    assert any(c.startswith("How much each patch fed the class token") for c in captions)
    assert any(c.startswith("The top class's gradient") for c in captions)
    assert text.count("% of it on the shape (the shape covers") == 2    # rollout and Grad-CAM


def test_look_inside_on_a_cnn_attention_tab_and_maps_scored_on_the_shape():
    at = page("inside").run()
    by_key(at.radio, "image_source").set_value("Generated shape").run()
    assert_ok(at)
    open_attention(at)
    assert "Attention maps are for vision transformers" in texts(at)
    at.session_state["inside_tab"] = "Attributions"
    at.run()
    assert_ok(at)
    assert "% of it on the shape (the shape covers" in texts(at)


def test_training_page_race_view_renders_starts_and_shows_rows(tmp_path, monkeypatch):
    """The Race view: knobs, Start, rows and the plot arriving from the library's thread."""
    import time

    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    at = page("train")
    at.session_state["train_view"] = "Race"
    at.run()
    assert_ok(at)
    assert "Do transformers need more data?" in texts(at)
    by_key(at.select_slider, "race_budget").set_value(2)
    by_key(at.multiselect, "race_sizes").set_value([10])
    at.run()
    by_key(at.button, "race_start").click().run()
    assert_ok(at)
    deadline = time.time() + 120
    while time.time() < deadline and "Finished." not in texts(at):
        time.sleep(1)
        at.run()
        assert_ok(at)
    assert "Finished." in texts(at)
    table = at.dataframe[0].value
    assert list(table["model"]) == ["Tiny CNN", "Tiny ViT"] and set(table["images per class"]) == {"10"}
    chart = [c for c in at.get("plotly_chart") if "race_chart" in str(c.proto.id)]
    assert chart, "the race's plot is on the page"


def test_picking_the_tiny_vit_moves_the_learning_rate_to_its_own_and_back():
    """At a CNN's 3e-3 the tiny ViT stays at chance: picking it sets its own rate on the form (as
    the CLI's --model vit-tiny does); picking a CNN again gives the task's rate back."""
    from playground.networks.vit import VIT_LR
    from playground.training import RunConfig

    at = page("train").run()
    cnn_lr = RunConfig.for_task("classify").lr
    assert by_key(at.select_slider, "train_lr").value == cnn_lr != VIT_LR
    by_key(at.selectbox, "train_model").set_value("Tiny ViT").run()
    assert_ok(at)
    assert by_key(at.select_slider, "train_lr").value == VIT_LR
    by_key(at.selectbox, "train_model").set_value(RunConfig().model["preset"]).run()
    assert by_key(at.select_slider, "train_lr").value == cnn_lr
