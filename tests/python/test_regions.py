"""regionlm.Region and the RLE helpers against pycocotools, the reference for COCO masks."""
import numpy as np
import pytest
from pycocotools import mask as coco_mask

import regionlm


@pytest.fixture
def random_mask():
    rng = np.random.default_rng(5)
    mask = np.zeros((37, 53), np.uint8)
    mask[5:30, 8:40] = rng.random((25, 32)) > 0.4
    return mask


def test_rle_matches_pycocotools(random_mask):
    reference = coco_mask.encode(np.asfortranarray(random_mask))
    assert regionlm.rle_encode(random_mask) == reference["counts"].decode()
    assert regionlm.rle_encode(random_mask.astype(bool)) == reference["counts"].decode()
    decoded = regionlm.rle_decode(reference["counts"].decode(), *random_mask.shape)
    assert decoded.dtype == np.uint8 and np.array_equal(decoded, random_mask)
    region = regionlm.Region.from_rle(reference["counts"], *random_mask.shape)  # bytes, as pycocotools gives
    assert region.kind == "rle" and np.array_equal(region.rasterize(*random_mask.shape), random_mask)


def test_polygons_rasterise_as_pycocotools():
    h, w = 60, 80
    segmentation = [[10.5, 5.0, 70.25, 12.75, 55.0, 50.25, 12.0, 40.0], [60, 45, 75, 45, 75, 58, 60, 58]]  # float32-exact
    reference = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects(segmentation, h, w)))
    assert np.array_equal(regionlm.Region.from_coco(segmentation).rasterize(h, w), reference)
    first = coco_mask.decode(coco_mask.frPyObjects([segmentation[0]], h, w))[:, :, 0]
    points = np.array(segmentation[0]).reshape(-1, 2)
    for form in (points, points.astype(np.float32), points.tolist(), segmentation[0]):
        assert np.array_equal(regionlm.Region.from_polygon(form).rasterize(h, w), first)
    assert np.array_equal(regionlm.Region.from_polygons([points, segmentation[1]]).rasterize(h, w), reference)


def test_uncompressed_rle_and_box_as_pycocotools(random_mask):
    h, w = random_mask.shape
    runs = regionlm.Region.from_mask(random_mask)  # reference: the same mask via pycocotools' runs
    uncompressed = {"size": [h, w], "counts": []}
    flat = random_mask.flatten(order="F")
    value, length = 0, 0
    for pixel in flat:
        if pixel != value:
            uncompressed["counts"].append(length)
            value, length = pixel, 0
        length += 1
    uncompressed["counts"].append(length)
    reference = coco_mask.decode(coco_mask.frPyObjects(uncompressed, h, w))
    assert np.array_equal(regionlm.Region.from_coco(uncompressed).rasterize(h, w), reference)
    assert np.array_equal(runs.rasterize(h, w), reference)
    box = regionlm.Region.from_box(3.0, 4.0, 20.0, 9.0)
    assert box.kind == "box" and box.box == (3.0, 4.0, 20.0, 9.0)
    box_reference = coco_mask.decode(coco_mask.frPyObjects(np.array([[3.0, 4.0, 17.0, 5.0]]), h, w))[:, :, 0]
    assert np.array_equal(box.rasterize(h, w), box_reference)


def test_rasterized_arrays_own_their_buffer(random_mask):
    out = regionlm.Region.from_mask(random_mask).rasterize(*random_mask.shape)
    assert out.flags.c_contiguous and out.base is not None  # a view of the C++ matrix, no copy
    assert "mask 37x53" in repr(regionlm.Region.from_mask(random_mask))
