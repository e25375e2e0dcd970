"""Describes every annotated region of a COCO-style dataset with regionlm on a Ray cluster.

    python examples/ray/caption_coco.py --model models/tiny-shapes \
        --annotations instances.json --images DIR --output captions.jsonl [--actors 2]

Ray Data reads the images' work items; an actor pool runs one regionlm.Model per actor (the
model is loaded once per actor, then every image routed to that actor reuses it); each image is
encoded once and all its regions are asked the same question in one batched decode
(Model.describe_each). The driver appends one JSON line per region,
{"image_id", "annotation_id", "text"}, as results arrive: a rerun skips the annotation ids the
file already holds, so an interrupted run resumes where it stopped. A worker that dies is
restarted by Ray and its images are retried (no region is lost or written twice).
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import ray

import regionlm


def region_of(annotation):
    """An annotation's region: its segmentation (polygons or RLE) when present, else its bbox."""
    segmentation = annotation.get("segmentation")
    if segmentation:
        return regionlm.Region.from_coco(segmentation)
    x, y, w, h = annotation["bbox"]
    return regionlm.Region.from_box(x, y, x + w, y + h)


def done_annotation_ids(output):
    """Annotation ids already in the output file. From the first line that a crash cut off (not
    parseable, or without its newline) on, the file is truncated: those regions are redone and
    appends start on a clean line."""
    done = set()
    if not output.exists():
        return done
    data = output.read_bytes()
    good_end = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            done.add(json.loads(line)["annotation_id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            break
        good_end += len(line)
    if good_end != len(data):
        with open(output, "r+b") as f:
            f.truncate(good_end)
    return done


def work_items(annotations_file, images_dir, done):
    """One item per image with its regions still to describe, as Ray Data rows."""
    coco = json.loads(Path(annotations_file).read_text())
    images = {image["id"]: image for image in coco["images"]}
    by_image = {}
    for annotation in coco["annotations"]:
        if annotation["id"] not in done:
            by_image.setdefault(annotation["image_id"], []).append(annotation)
    items = []
    for image_id, annotations in sorted(by_image.items()):
        items.append({
            "image_id": image_id,
            "path": str(Path(images_dir) / images[image_id]["file_name"]),
            # JSON text: COCO segmentations are ragged (polygons vs RLE), which Arrow columns are not.
            "annotations": json.dumps([{k: a[k] for k in ("id", "segmentation", "bbox") if k in a}
                                       for a in annotations]),
        })
    return items


class Captioner:
    """One actor of the pool: loads the model once, then describes the regions of each image."""

    def __init__(self, model_dir, prompt, device, threads, generation):
        if threads:
            regionlm.set_num_threads(threads)
        self.model = regionlm.Model.load(model_dir, device=device)
        self.prompt = prompt
        self.generation = generation

    def __call__(self, batch):
        out = {"image_id": [], "annotation_id": [], "text": []}
        for image_id, path, annotations in zip(batch["image_id"], batch["path"], batch["annotations"]):
            annotations = json.loads(annotations)
            answers = self.model.describe_each(path, [region_of(a) for a in annotations], self.prompt,
                                               **self.generation)
            for annotation, answer in zip(annotations, answers):
                out["image_id"].append(int(image_id))
                out["annotation_id"].append(annotation["id"])
                out["text"].append(answer.text)
        return out


def caption(annotations, images, output, model_dir, *, actors=1, cpus_per_actor=1, gpus_per_actor=0,
            device="", prompt=None, images_per_batch=4, generation=None, captioner=Captioner, progress=True,
            stats=None):
    """Runs the pipeline on the connected Ray cluster; returns (regions written, seconds).
    `stats` (a dict), when given, receives "first_result_s" (seconds to the first result: actor
    start and model load) and "steady_regions_per_s" (after it)."""
    output = Path(output)
    done = done_annotation_ids(output)
    items = work_items(annotations, images, done)
    total = sum(len(json.loads(item["annotations"])) for item in items)
    if progress:
        print(f"{len(done)} regions already in {output}; {total} to describe on {len(items)} images", file=sys.stderr)
    if not items:
        return 0, 0.0
    start = time.perf_counter()
    # Blocks of a few batches each: enough to spread over the actors and to retry little after a
    # failure, few enough that per-block scheduling stays small beside the work.
    dataset = ray.data.from_items(items, override_num_blocks=max(1, min(len(items) // (2 * images_per_batch),
                                                                        200)))
    described = dataset.map_batches(
        captioner,
        # A CPU actor computes with as many LibTorch threads as CPUs it reserved.
        fn_constructor_args=(str(model_dir), prompt, device, 0 if gpus_per_actor else max(1, int(cpus_per_actor)),
                             generation or {}),
        batch_size=images_per_batch,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=cpus_per_actor,
        num_gpus=gpus_per_actor)
    written = 0
    first_result = None
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "a") as out:
        for batch in described.iter_batches(batch_size=None, batch_format="default"):
            for image_id, annotation_id, text in zip(batch["image_id"], batch["annotation_id"], batch["text"]):
                out.write(json.dumps({"image_id": int(image_id), "annotation_id": int(annotation_id),
                                      "text": str(text)}) + "\n")
            out.flush()  # a result is on disk before the next arrives: the resume point
            if first_result is None:
                first_result, first_count = time.perf_counter(), len(batch["annotation_id"])
            written += len(batch["annotation_id"])
            if progress:
                print(f"\r{written}/{total} regions", end="", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    if stats is not None and first_result is not None:
        stats["first_result_s"] = first_result - start
        end = start + seconds
        stats["steady_regions_per_s"] = (written - first_count) / (end - first_result) if end > first_result else 0.0
    if progress:
        print(f"\n{written} regions in {seconds:.1f} s ({written / seconds:.1f} regions/s)", file=sys.stderr)
    return written, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="regionlm model directory")
    parser.add_argument("--annotations", required=True, help="COCO-style annotation JSON (images, annotations)")
    parser.add_argument("--images", required=True, help="directory of the images' file_name paths")
    parser.add_argument("--output", required=True, help="JSONL output, appended to (resumable)")
    parser.add_argument("--prompt", default=None, help="question with one <region> (default: the model's description)")
    parser.add_argument("--actors", type=int, default=1, help="actors in the pool, one model each (1)")
    parser.add_argument("--cpus-per-actor", type=float, default=1, help="CPUs each actor reserves (1)")
    parser.add_argument("--gpus-per-actor", type=float, default=0, help="GPUs each actor reserves (0)")
    parser.add_argument("--device", default="", help="regionlm device ('' = CUDA when available)")
    parser.add_argument("--max-new-tokens", type=int, default=512, help="longest answer (512)")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: start or join a local one)")
    args = parser.parse_args()
    ray.init(address=args.address)
    caption(args.annotations, args.images, args.output, args.model, actors=args.actors,
            cpus_per_actor=args.cpus_per_actor, gpus_per_actor=args.gpus_per_actor, device=args.device,
            prompt=args.prompt, generation={"max_new_tokens": args.max_new_tokens})


if __name__ == "__main__":
    main()
