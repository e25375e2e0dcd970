"""examples/ray on a local Ray cluster (2 CPUs, 127.0.0.1, shut down at the end): the batch
pipeline's JSONL equals the library's answers for every region of 20 scenes, survives a worker
dying mid-run, resumes without redoing regions; the Serve deployment answers over HTTP."""
import base64
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

import regionlm

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "examples" / "ray"))
import caption_coco  # noqa: E402
import synthetic_coco  # noqa: E402

MODEL_DIR = ROOT / "models" / "tiny-shapes"
SCENE_DIR = ROOT / "examples" / "data" / "tiny-shapes-scene"
SCENES = 20


@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray import cloudpickle
    # Workers import regionlm (ctest's PYTHONPATH) and the example module by name.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "examples" / "ray"), os.environ.get("PYTHONPATH", "")])
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # nothing leaves the machine
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the fault-injecting captioner below
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


def mask_png(mask):
    out = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """20 scenes, 4 regions each, in every COCO form (examples/ray/synthetic_coco.py)."""
    out = tmp_path_factory.mktemp("coco")
    synthetic_coco.make_dataset(out, SCENES)
    return out


@pytest.fixture(scope="module")
def expected(dataset):
    """The plain library's answers: {annotation_id: (image_id, text)}."""
    model = regionlm.Model.load(MODEL_DIR, device="cpu")
    coco = json.loads((dataset / "instances.json").read_text())
    answers = {}
    for image in coco["images"]:
        annotations = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        texts = model.describe_each(str(dataset / image["file_name"]), [caption_coco.region_of(a) for a in annotations])
        for a, t in zip(annotations, texts):
            answers[a["id"]] = (image["id"], t.text)
    return answers


def read_jsonl(path):
    rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
    return {row["annotation_id"]: (row["image_id"], row["text"]) for row in rows}, len(rows)


class DiesOnce(caption_coco.Captioner):
    """Kills its own worker process on its third image, once per run (a marker file says so)."""
    marker = None

    def __call__(self, batch):
        self.seen = getattr(self, "seen", 0) + 1
        if self.seen == 3 and not os.path.exists(self.marker):
            Path(self.marker).write_text("died")
            os._exit(1)
        return super().__call__(batch)


def test_batch_pipeline_equals_library_survives_a_dead_worker_and_resumes(cluster, dataset, expected, tmp_path):
    output = tmp_path / "captions.jsonl"
    DiesOnce.marker = str(tmp_path / "died")
    written, _ = caption_coco.caption(dataset / "instances.json", dataset, output, MODEL_DIR, actors=2,
                                      device="cpu", captioner=DiesOnce, progress=False)
    assert Path(DiesOnce.marker).exists()  # a worker did die mid-run
    rows, lines = read_jsonl(output)
    assert written == lines == len(expected)  # nothing lost, nothing written twice
    assert rows == expected

    # A rerun has nothing left to do.
    assert caption_coco.caption(dataset / "instances.json", dataset, output, MODEL_DIR, device="cpu",
                                progress=False)[0] == 0
    # Lose the lines of five images and a half-written line (a crash): only those are redone.
    kept = [line for line in output.read_text().splitlines() if json.loads(line)["image_id"] >= 105]
    output.write_text("\n".join(kept) + '\n{"image_id": 1')
    written, _ = caption_coco.caption(dataset / "instances.json", dataset, output, MODEL_DIR, device="cpu",
                                      progress=False)
    assert written == len(expected) - len(kept) == 5 * 4
    rows, lines = read_jsonl(output)
    assert lines == len(expected) and rows == expected


def test_resume_point_drops_a_cut_off_line(tmp_path):
    output = tmp_path / "captions.jsonl"
    lines = [json.dumps({"image_id": 1, "annotation_id": i, "text": "a red star"}) + "\n" for i in (3, 4)]
    cut = json.dumps({"image_id": 1, "annotation_id": 5, "text": "a blue"})  # complete JSON, newline lost
    output.write_text("".join(lines) + cut)
    assert caption_coco.done_annotation_ids(output) == {3, 4}
    assert output.read_text() == "".join(lines)
    output.write_text("".join(lines) + '{"image_id": 1, "annot')
    assert caption_coco.done_annotation_ids(output) == {3, 4}
    assert output.read_text() == "".join(lines)
    assert caption_coco.done_annotation_ids(tmp_path / "absent.jsonl") == set()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sam_dir(tmp_path_factory):
    """The small random SAM of the C++ SAM tests (tests/sam/sam_reference.py)."""
    out = tmp_path_factory.mktemp("sam")
    subprocess.run([sys.executable, str(ROOT / "tests" / "sam" / "sam_reference.py"), "model", "vit-amg", str(out),
                    "--config"], check=True, timeout=300)
    return out


def test_serve_deployment_answers_over_http(cluster, dataset, sam_dir):
    from ray import serve

    import serve_describe
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        serve.run(serve_describe.RegionDescriber.bind(str(MODEL_DIR), "cpu", 1, str(sam_dir)),
                  route_prefix="/v1/regions/describe")
        url = f"http://127.0.0.1:{port}/v1/regions/describe"
        image_path = dataset / "scene_03.png"
        pixels = np.asarray(Image.open(image_path).convert("RGB"))
        image = "data:image/png;base64," + base64.b64encode(image_path.read_bytes()).decode()
        mask = (np.asarray(Image.open(SCENE_DIR / "mask_1.png")) != 0).astype(np.uint8)
        mask = mask if mask.ndim == 2 else mask.max(axis=2)
        height, width = mask.shape
        body = {"image": image, "max_tokens": 12,
                "regions": [{"box": [60, 90, 150, 220]}, {"mask": {"size": [height, width], "counts": regionlm.rle_encode(mask)}},
                            {"mask_png": base64.b64encode(mask_png(mask)).decode()}]}
        response = requests.post(url, json=body, timeout=120)
        assert response.status_code == 200, response.text
        reply = response.json()
        model = regionlm.Model.load(MODEL_DIR, device="cpu")
        regions = [regionlm.Region.from_box(60, 90, 150, 220), regionlm.Region.from_mask(mask),
                   regionlm.Region.from_mask(mask)]
        answers = model.describe_each(pixels, regions, max_new_tokens=12)
        assert [r["text"] for r in reply["regions"]] == [a.text for a in answers]
        assert reply["regions"][0]["bbox"] == [60, 90, 90, 130] and reply["regions"][0]["area"] == 90 * 130
        assert reply["regions"][1]["rle"]["counts"] == regionlm.rle_encode(mask)
        assert reply["usage"]["completion_tokens"] == sum(a.timings.generated_tokens for a in answers)

        # SAM regions (clicks, a scribble) and "everything" against the library's SAM on the same
        # pixels: the bundled scene, where the random SAM finds a mask.
        pixels = np.asarray(Image.open(SCENE_DIR / "image.png").convert("RGB"))
        image = "data:image/png;base64," + base64.b64encode((SCENE_DIR / "image.png").read_bytes()).decode()
        sam = regionlm.Sam.load(sam_dir)
        embedded = sam.encode(pixels)
        clicked = sam.predict(embedded, points=[(150, 180, 1), (40, 40, 0)])
        stroked = sam.predict(embedded, points=regionlm.scribble_points([(20, 20), (60, 20)]))
        sam_body = {"image": image, "max_tokens": 12,
                    "regions": [{"points": [[150, 180, 1], [40, 40, 0]]}, {"scribble": [[20, 20], [60, 20]]}]}
        reply = requests.post(url, json=sam_body, timeout=120).json()
        answers = model.describe_each(pixels, [clicked.region(clicked.best()), stroked.region(stroked.best())],
                                      max_new_tokens=12)
        assert [r["text"] for r in reply["regions"]] == [a.text for a in answers]
        assert reply["regions"][0]["rle"]["counts"] == regionlm.rle_encode(clicked.mask(clicked.best()))
        everything = requests.post(url, json={"image": image, "everything": True, "max_tokens": 12}, timeout=120).json()
        generated = regionlm.generate_masks(sam, pixels)
        answers = model.describe_each(pixels, [g.region() for g in generated], max_new_tokens=12)
        assert [r["text"] for r in everything["regions"]] == [a.text for a in answers] and answers
        assert [r["area"] for r in everything["regions"]] == [g.area for g in generated]

        wrong = requests.post(url, json={**body, "prompt": "Is <region1> left of <region2>?"}, timeout=60)
        assert wrong.status_code == 422 and wrong.json()["error"]["param"] == "prompt"
        broken = requests.post(url, json={**body, "image": "data:image/png;base64,AAAA"}, timeout=60)
        assert broken.status_code == 400 and broken.json()["error"]["param"] == "image"
        bad_click = requests.post(url, json={**sam_body, "regions": [{"points": [[150, "x"]]}]}, timeout=60)
        assert bad_click.status_code == 400 and bad_click.json()["error"]["param"] == "regions[0].points[0]"
        outside = requests.post(url, json={**sam_body, "regions": [{"points": [[5000, 5]]}]}, timeout=60)
        assert outside.status_code == 422 and outside.json()["error"]["param"] == "regions[0].points"
    finally:
        serve.shutdown()
