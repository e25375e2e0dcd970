"""regionlm.Sam and generate_masks against regionlm-describe's --sam paths, on the small random SAM
the C++ SAM tests build (tests/sam/sam_reference.py)."""
import json
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

import regionlm
from conftest import MODEL_DIR, ROOT, SCENE_IMAGE, describe_cli, read_rgb, run_cli


@pytest.fixture(scope="module")
def sam_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sam")
    subprocess.run([sys.executable, str(ROOT / "tests" / "sam" / "sam_reference.py"), "model", "vit-amg", str(out),
                    "--config"], check=True, timeout=300)
    return out


@pytest.fixture(scope="module")
def sam(sam_dir):
    return regionlm.Sam.load(sam_dir)


def test_clicks_and_box_match_cli(model, scene, sam, sam_dir):
    cli = describe_cli(["--image", SCENE_IMAGE, "--sam", sam_dir, "--point", "150,180", "--point", "40,40,0",
                        "--box", "8,99,83,174"])
    image = sam.encode(SCENE_IMAGE)
    clicked = sam.predict(image, points=[(150, 180), (40, 40, 0)])
    boxed = sam.predict(image, box=(8, 99, 83, 174))
    # The CLI's regions are best_mask's: the top candidate, refined as the model's config says (0 here).
    assert sam.refinement_passes == 0
    chosen = [sam.best_mask(image, points=[(150, 180), (40, 40, 0)]), sam.best_mask(image, box=(8, 99, 83, 174))]
    assert np.array_equal(chosen[0].masks[0], clicked.masks[clicked.best()])
    regions = [m.region(0) for m in chosen]
    answers = model.describe_each(scene, regions)
    assert [a.text for a in answers] == [a["text"] for a in cli]
    assert [a.tokens.tolist() for a in answers] == [a["tokens"] for a in cli]

    assert clicked.masks.shape == (3, scene.height, scene.width) and clicked.masks.dtype == np.bool_
    assert not clicked.masks.flags.writeable  # a view of the Masks' own tensor
    assert len(clicked) == 3 and clicked.iou_predictions.shape == (3,)
    best = clicked.best()
    assert best == int(np.argmax(clicked.iou_predictions)) and clicked.order()[0] == best
    assert np.array_equal(clicked.mask(best), clicked.masks[best].astype(np.uint8))
    assert np.array_equal(clicked.region(best).rasterize(scene.height, scene.width), clicked.mask(best))
    # The previous low-resolution logits feed back as a prompt; one mask without multimask.
    again = sam.predict(image, points=[(150, 180)], mask_input=clicked.low_res_logits[best], multimask=False)
    assert again.masks.shape == (1, scene.height, scene.width)
    # best_mask with one refinement pass is that feedback from the best candidate.
    single = sam.predict(image, points=[(150, 180)])
    fed = sam.predict(image, points=[(150, 180)], mask_input=single.low_res_logits[single.best()], multimask=False)
    refined = sam.best_mask(image, points=[(150, 180)], refinement_passes=1)
    assert len(refined) == 1 and np.array_equal(refined.masks, fed.masks)
    np.testing.assert_allclose(refined.low_res_logits, fed.low_res_logits, rtol=1e-5, atol=1e-5)
    with pytest.raises(regionlm.ArgumentError, match="refinement_passes"):
        sam.best_mask(image, points=[(150, 180)], refinement_passes=9)
    # A path and the same pixels encode alike.
    from_pixels = sam.predict(sam.encode(read_rgb(SCENE_IMAGE)), box=(8, 99, 83, 174))
    assert np.array_equal(from_pixels.masks, boxed.masks)


def test_everything_matches_cli(model, scene, sam, sam_dir):
    out = run_cli("describe", ["--model", MODEL_DIR, "--device", "cpu", "--json", "--image", SCENE_IMAGE, "--sam",
                               sam_dir, "--everything"])
    cli = json.loads(out)
    generated = regionlm.generate_masks(sam, SCENE_IMAGE)
    assert len(generated) == len(cli["regions"]) > 0
    for g, r in zip(generated, cli["regions"]):
        assert regionlm.rle_encode(g.segmentation) == r["rle"]["counts"] and g.area == r["area"]
        assert list(g.bbox) == r["bbox"] and g.predicted_iou == pytest.approx(r["predicted_iou"])
    # One answer per region, or (a single region) the one answer beside them.
    cli_answers = [cli["answer"]] if "answer" in cli else cli["regions"]
    answers = model.describe_each(scene, [g.region() for g in generated])
    assert [a.tokens.tolist() for a in answers] == [a["tokens"] for a in cli_answers]
    assert [a.text for a in answers] == [a["text"] for a in cli_answers]
    first = generated[0]
    assert not first.segmentation.flags.writeable
    assert first.segmentation.shape == (scene.height, scene.width) and first.area == int(first.segmentation.sum())
    x, y, w, h = first.bbox
    ys, xs = np.nonzero(first.segmentation)
    assert (x, y) == (xs.min(), ys.min()) and (x + w, y + h) == (xs.max(), ys.max())


def reference_masks(sam_dir, image_path, out_path, options):
    """segment-anything's SamAutomaticMaskGenerator on the same weights, image and options."""
    subprocess.run([sys.executable, str(ROOT / "tests" / "sam" / "sam_reference.py"), "amg", str(sam_dir), "vit-amg",
                    str(image_path), str(out_path), json.dumps(options)], check=True, timeout=300)
    return load_file(str(out_path))


def test_generate_masks_finding_nothing_matches_segment_anything(sam, sam_dir, tmp_path):
    # On a 12 x 12 grid the random SAM's masks all fail the default filters: the reference returns
    # [] and so must generate_masks (it used to raise reading the empty result's tensors). The
    # non-empty case: test_everything_matches_cli here, the C++ AMG parity tests in tests/sam.
    options = {"points_per_side": 12}
    reference = reference_masks(sam_dir, SCENE_IMAGE, tmp_path / "reference.safetensors", options)
    generated = regionlm.generate_masks(sam, SCENE_IMAGE, **options)
    assert len(generated) == reference["area"].shape[0] == 0


def test_sam_errors(sam, tmp_path):
    image = sam.encode(SCENE_IMAGE)
    with pytest.raises(regionlm.ArgumentError, match="points"):
        sam.predict(image, points=[(1000, 5)])
    with pytest.raises(regionlm.ArgumentError, match=r"points\[0\]"):
        sam.predict(image, points=[(1, 2, 3, 4)])
    with pytest.raises(regionlm.ArgumentError):
        sam.predict(image)  # an empty prompt
    with pytest.raises(regionlm.ShapeError, match="mask_input"):
        sam.predict(image, points=[(5, 5)], mask_input=np.zeros((1, 10, 10), np.float32))
    with pytest.raises(regionlm.ShapeError, match="mask_input"):
        sam.predict(image, points=[(5, 5)], mask_input=np.zeros((1, 10, 10), np.int32))
    with pytest.raises(regionlm.ShapeError, match="reversed"):
        sam.predict(image, points=[(5, 5)], mask_input=np.zeros((1, 256, 256), np.float32)[:, ::-1])
    with pytest.raises(regionlm.IoError):
        regionlm.Sam.load(tmp_path / "no-sam-here")
    with pytest.raises(regionlm.ArgumentError, match="points_per_side"):
        regionlm.generate_masks(sam, SCENE_IMAGE, points_per_side=0)


def test_scribbles():
    line = regionlm.scribble_points([(0, 0), (100, 0)], spacing=25)
    assert line == [(0.0, 0.0, 1), (25.0, 0.0, 1), (50.0, 0.0, 1), (75.0, 0.0, 1), (100.0, 0.0, 1)]
    drawn = np.zeros((20, 20), np.uint8)
    drawn[10, 2:18] = 1
    points = regionlm.scribble_points(drawn, label=0, spacing=4, max_points=3)
    assert len(points) == 3 and all(label == 0 and drawn[int(y), int(x)] for x, y, label in points)
