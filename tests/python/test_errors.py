"""regionlm::Error's hierarchy as Python exceptions: every class maps (thrown from C++), real
failures raise the class the C++ API documents, and bad numpy inputs get clear messages."""
import shutil

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

import regionlm
from conftest import MODEL_DIR, SCENE_IMAGE

# Python class name -> the builtins it must also be (so `except ValueError` catches bad values).
HIERARCHY = {
    "Error": (RuntimeError,),
    "IoError": (regionlm.Error, OSError),
    "FormatError": (regionlm.Error, ValueError),
    "ConfigError": (regionlm.Error, ValueError),
    "WeightError": (regionlm.Error,),
    "ShapeError": (regionlm.Error, ValueError),
    "ArgumentError": (regionlm.Error, ValueError),
}


@pytest.mark.parametrize("name", sorted(HIERARCHY))
def test_every_error_class_maps(name):
    cls = getattr(regionlm, name)
    with pytest.raises(cls) as caught:
        regionlm._core._raise_error(name, f"thrown as regionlm::{name}")
    assert type(caught.value) is cls  # the most derived class, not a base
    assert str(caught.value) == f"thrown as regionlm::{name}"
    for base in HIERARCHY[name]:
        assert isinstance(caught.value, base)
    assert cls.__module__ == "regionlm.errors"


def copy_model(tmp_path):
    out = tmp_path / "model"
    shutil.copytree(MODEL_DIR, out)
    return out


def test_load_errors(tmp_path):
    with pytest.raises(regionlm.IoError, match="missing-model"):
        regionlm.Model.load(tmp_path / "missing-model", device="cpu")

    bad_config = copy_model(tmp_path / "a")
    config = (bad_config / "config.json").read_text().replace("OspreyLlamaForCausalLM", "FooForCausalLM")
    (bad_config / "config.json").write_text(config)
    with pytest.raises(regionlm.ConfigError, match="architectures"):
        regionlm.Model.load(bad_config, device="cpu")

    missing_weight = copy_model(tmp_path / "b")
    weights = load_file(missing_weight / "model.safetensors")
    del weights["lm_head.weight"]
    save_file(weights, missing_weight / "model.safetensors")
    with pytest.raises(regionlm.WeightError, match="lm_head.weight"):
        regionlm.Model.load(missing_weight, device="cpu")

    with pytest.raises(regionlm.ConfigError, match="float8"):
        regionlm.Model.load(MODEL_DIR, device="cpu", dtype="float8")


def test_call_errors(model, scene, tmp_path):
    garbage = tmp_path / "image.png"
    garbage.write_bytes(b"not a png at all")
    with pytest.raises(regionlm.FormatError, match="image.png"):
        model.encode(garbage)
    with pytest.raises(regionlm.IoError, match="nowhere.png"):
        model.encode(tmp_path / "nowhere.png")
    box = regionlm.Region.from_box(0, 0, 10, 10)
    with pytest.raises(regionlm.ArgumentError, match="region 3"):
        model.describe(scene, [box, box], "Is <region3> left of <region1>?")
    with pytest.raises(regionlm.ArgumentError, match="max_new_tokens"):
        model.describe(scene, [box], max_new_tokens=0)
    with pytest.raises(regionlm.ArgumentError, match="mask"):  # a mask of another size than the image
        model.describe(scene, [regionlm.Region.from_mask(np.ones((5, 5), bool))])
    with pytest.raises(regionlm.ArgumentError, match="on_step"):
        model.describe(scene, [box], on_step=3)
    with pytest.raises(regionlm.ArgumentError, match="threads"):
        regionlm.set_num_threads(0)


@pytest.mark.parametrize("bad, expected", [
    (np.zeros((32, 32, 3), np.float32), r"H x W x 3 uint8 RGB array, got a float32 array of shape \(32, 32, 3\)"),
    (np.zeros((32, 32), np.uint8), r"got a uint8 array of shape \(32, 32\)"),
    (np.zeros((32, 32, 4), np.uint8), r"got a uint8 array of shape \(32, 32, 4\)"),
    (np.zeros((0, 32, 3), np.uint8), r"empty"),
    ([[1, 2, 3]], r"expected a path or an H x W x 3 uint8 RGB array, got <class 'list'>"),
])
def test_bad_image_arrays_are_clear_errors(model, bad, expected):
    with pytest.raises(regionlm.ArgumentError, match="^image: .*" + expected):
        model.encode(bad)
    with pytest.raises(regionlm.ArgumentError, match="^image: .*" + expected):
        model.describe(bad, [regionlm.Region.from_box(0, 0, 4, 4)])


@pytest.mark.parametrize("bad, expected", [
    (np.zeros((4, 4, 2), np.uint8), r"2-D \(H x W\) mask array .* got a uint8 array of shape \(4, 4, 2\)"),
    (np.zeros(16, bool), r"got a bool array of shape \(16,\)"),
    (np.zeros((4, 4), np.complex64), r"got a complex64 array"),
    (np.zeros((4, 4), np.float16), r"got a float16 array"),
    (np.zeros((0, 4), np.uint8), r"empty"),
])
def test_bad_mask_arrays_are_clear_errors(bad, expected):
    with pytest.raises(regionlm.ArgumentError, match="^mask: .*" + expected):
        regionlm.Region.from_mask(bad)


def test_bad_region_values(model, scene):
    with pytest.raises(regionlm.ArgumentError, match="points"):
        regionlm.Region.from_polygon(np.zeros((4, 3)))
    with pytest.raises(regionlm.ArgumentError, match="even number"):
        regionlm.Region.from_polygon([1.0, 2.0, 3.0])
    with pytest.raises(regionlm.ArgumentError, match="size"):
        regionlm.Region.from_coco({"counts": "abc"})
    bad_rle = regionlm.Region.from_rle("!!!", 8, 8)  # validated against an image, as in C++
    with pytest.raises(regionlm.ArgumentError, match="RLE"):
        bad_rle.rasterize(8, 8)
    with pytest.raises(regionlm.ArgumentError):
        model.describe(scene, [bad_rle])
