"""ImageNet classification on Classify, offline, the way the course's transfer learning starts:
torchvision's resnet18 weights file placed in torch's hub cache under torchvision's own name is
loaded by the real code (no download), and 1000 ImageNet classes come from torchvision's
metadata. Without the file, the page says which file to put where."""
from __future__ import annotations

import pytest

from tests.app.helpers import assert_ok, by_key, page, texts
from ui.common import scrub_paths
from tests.unit.test_transfer import hub, place_resnet18_weights  # noqa: F401 - the fixture


def test_imagenet_model_from_the_hub_cache_classifies_a_photo(hub):  # noqa: F811
    place_resnet18_weights()
    at = page("classify").run()
    by_key(at.selectbox, "model_select").set_value("torchvision:resnet18").run()
    by_key(at.radio, "image_source").set_value("Sample photo").run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    assert "1,000 classes" in texts(at)


def test_offline_without_the_file_says_where_to_put_it(hub):  # noqa: F811
    at = page("classify").run()
    by_key(at.selectbox, "model_select").set_value("torchvision:resnet18").run()
    assert_ok(at)
    errors = " ".join(e.value for e in at.error)
    # where to put it, as the page writes folders (scrub_paths: ~ for home, <tmp> for the temp folder)
    assert "resnet18-f37072fd.pth" in errors and scrub_paths(str(hub / "hub" / "checkpoints")) in errors
