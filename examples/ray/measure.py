"""Measures the batch pipeline: regions/s of the plain library (one process, one LibTorch thread)
and of caption_coco on a local Ray cluster with 1 and 2 one-CPU actors, on synthetic_coco scenes.

    PYTHONPATH=build/python python examples/ray/measure.py [--scenes 600] [--repeat 3]

The three runs alternate `--repeat` times and each figure is the median (a shared machine's
load varies from minute to minute). The Ray times are end to end (cluster already up):
scheduling, actor start and model load, every region, the JSONL written by the driver; "steady"
is the rate after the first result (actors started, models loaded). Ray's cost per region is the
CPU time the steady Ray path spends beyond the plain library: actors / steady rate - plain
seconds per region.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])  # for the workers
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402

import caption_coco  # noqa: E402
import regionlm  # noqa: E402
import synthetic_coco  # noqa: E402


def plain_library(model, items):
    """The same work without Ray: one Model, images one after another. Returns regions/s."""
    start = time.perf_counter()
    regions = 0
    for item in items:
        annotations = json.loads(item["annotations"])
        regions += len(model.describe_each(item["path"], [caption_coco.region_of(a) for a in annotations]))
    return regions / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--images-per-batch", type=int, default=4)
    parser.add_argument("--model", default=str(HERE.parents[1] / "models" / "tiny-shapes"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        annotations = synthetic_coco.make_dataset(Path(tmp) / "coco", args.scenes)
        images = annotations.parent
        items = caption_coco.work_items(annotations, images, set())
        regions = sum(len(json.loads(item["annotations"])) for item in items)
        regionlm.set_num_threads(1)
        model = regionlm.Model.load(args.model, device="cpu")
        plain_library(model, items[:20])  # warm-up
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        runs = {"plain": [], 1: [], 2: []}
        try:
            caption_coco.caption(annotations, images, Path(tmp) / "warmup.jsonl", args.model, actors=2,
                                 device="cpu", progress=False)  # first use of Ray Data: imports, worker pool
            for r in range(args.repeat):
                runs["plain"].append(plain_library(model, items))
                for actors in (1, 2):
                    stats = {}
                    output = Path(tmp) / f"out-{actors}-{r}.jsonl"
                    written, seconds = caption_coco.caption(annotations, images, output, args.model, actors=actors,
                                                            device="cpu", progress=False,
                                                            images_per_batch=args.images_per_batch, stats=stats)
                    assert written == regions
                    runs[actors].append((written / seconds, stats["steady_regions_per_s"], stats["first_result_s"]))
        finally:
            ray.shutdown()
    plain = statistics.median(runs["plain"])
    print(f"{regions} regions of {args.scenes} images, median of {args.repeat} runs")
    print(f"plain library, 1 thread: {plain:.1f} regions/s ({1000 / plain:.2f} ms/region); "
          f"runs {', '.join(f'{x:.0f}' for x in runs['plain'])}")
    medians = {}
    for actors in (1, 2):
        end_to_end, steady, first = (statistics.median(x[i] for x in runs[actors]) for i in range(3))
        medians[actors] = (end_to_end, steady)
        print(f"Ray Data, {actors} actor(s): {end_to_end:.1f} regions/s end to end, first result after {first:.2f} s, "
              f"then {steady:.1f} regions/s (Ray's cost {1000 * actors / steady - 1000 / plain:+.2f} CPU-ms/region); "
              f"steady runs {', '.join(f'{x[1]:.0f}' for x in runs[actors])}")
    print(f"2 actors / 1 actor: {medians[2][0] / medians[1][0]:.2f}x end to end, {medians[2][1] / medians[1][1]:.2f}x steady")


if __name__ == "__main__":
    main()
