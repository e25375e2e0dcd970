"""Measures the batch pipeline: regions/s of the plain library (one process, one LibTorch thread)
and of caption_coco on a local Ray cluster with 1 and 2 one-CPU actors, on synthetic_coco scenes.

    PYTHONPATH=build/python python examples/ray/measure.py [--scenes 150] [--model models/tiny-shapes]

The Ray times are end to end (cluster already up): scheduling, actor start and model load,
every region, the JSONL written by the driver; "steady" is the rate after the first result (actor
start and model load done). Ray's cost per region is the CPU time the steady Ray path spends beyond
the plain library: actors / steady rate - plain seconds per region.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])  # for the workers

import ray  # noqa: E402

import caption_coco  # noqa: E402
import regionlm  # noqa: E402
import synthetic_coco  # noqa: E402


def plain_library(model_dir, annotations, images):
    """The same work without Ray: one Model, images one after another. Returns (regions, seconds)."""
    regionlm.set_num_threads(1)
    model = regionlm.Model.load(model_dir, device="cpu")
    items = caption_coco.work_items(annotations, images, set())
    start = time.perf_counter()
    regions = 0
    for item in items:
        annotations_of = json.loads(item["annotations"])
        answers = model.describe_each(item["path"], [caption_coco.region_of(a) for a in annotations_of])
        regions += len(answers)
    return regions, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=150)
    parser.add_argument("--images-per-batch", type=int, default=4)
    parser.add_argument("--model", default=str(HERE.parents[1] / "models" / "tiny-shapes"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        annotations = synthetic_coco.make_dataset(Path(tmp) / "coco", args.scenes)
        images = annotations.parent
        regions, seconds = plain_library(args.model, annotations, images)
        print(f"plain library, 1 thread: {regions} regions in {seconds:.2f} s = {regions / seconds:.1f} regions/s "
              f"({1000 * seconds / regions:.2f} ms/region)")
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            caption_coco.caption(annotations, images, Path(tmp) / "warmup.jsonl", args.model, actors=2,
                                 device="cpu", progress=False)  # first use of Ray Data: imports, worker pool
            rates = {}
            for actors in (1, 2):
                stats = {}
                written, ray_seconds = caption_coco.caption(annotations, images, Path(tmp) / f"out{actors}.jsonl",
                                                            args.model, actors=actors, device="cpu", progress=False,
                                                            images_per_batch=args.images_per_batch, stats=stats)
                rates[actors] = (written / ray_seconds, stats["steady_regions_per_s"])
                steady_ms = 1000 / stats["steady_regions_per_s"]
                print(f"Ray Data, {actors} actor(s): {written} regions in {ray_seconds:.2f} s = "
                      f"{rates[actors][0]:.1f} regions/s end to end; first result after "
                      f"{stats['first_result_s']:.2f} s, then {stats['steady_regions_per_s']:.1f} regions/s "
                      f"(Ray's cost {actors * steady_ms - 1000 * seconds / regions:+.2f} CPU-ms/region)")
            print(f"2 actors / 1 actor: {rates[2][0] / rates[1][0]:.2f}x end to end, "
                  f"{rates[2][1] / rates[1][1]:.2f}x steady")
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()
