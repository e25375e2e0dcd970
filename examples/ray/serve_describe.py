"""regionlm on Ray Serve: POST /v1/regions/describe, the request shape of regionlm-server
(docs/server.md), answered by autoscaled replicas that each hold one regionlm.Model.

    serve run examples.ray.serve_describe:app model_dir=models/tiny-shapes
    python examples/ray/serve_describe.py --model models/tiny-shapes --port 8000

Request: {"image": "<data URL or base64 PNG/JPEG>", "regions": [{"mask": RLE} | {"mask_png": ...} |
{"box": [x0, y0, x1, y1]} | {"polygon": [[x, y], ...]} | {"points": [[x, y, label], ...]} |
{"scribble": [[x, y], ...]}] or "everything": true (the last three with a SAM model),
"prompt": "...<region>...",
"max_tokens", "temperature", "top_p", "top_k", "seed", "repetition_penalty", "stop"}.
Response: {"object": "regions.description", "model", "prompt", "regions": [{"id", "text",
"finish_reason", "rle", "bbox", "area"}], "usage"} — as regionlm-server answers.
"""
import argparse
import asyncio
import base64
import io
import signal
import sys
import time
from pathlib import Path

import numpy as np
import ray
from PIL import Image
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

import regionlm

GENERATION_FIELDS = {  # request field -> (regionlm keyword, type)
    "max_tokens": ("max_new_tokens", int),
    "max_completion_tokens": ("max_new_tokens", int),
    "temperature": ("temperature", float),
    "top_p": ("top_p", float),
    "top_k": ("top_k", int),
    "seed": ("seed", int),
    "repetition_penalty": ("repetition_penalty", float),
}


class RequestError(Exception):
    def __init__(self, status, param, message, code):
        super().__init__(message)
        self.status, self.param, self.code = status, param, code

    def response(self):
        return JSONResponse({"error": {"message": str(self), "type": "invalid_request_error", "param": self.param,
                                       "code": self.code}}, status_code=self.status)


def decode_image(value, param):
    """A data URL or bare base64 PNG/JPEG -> H x W x 3 uint8 RGB pixels."""
    if not isinstance(value, str):
        raise RequestError(400, param, f"{param}: expected a data URL or base64 string", "invalid_type")
    if value.startswith("data:"):
        value = value.split(",", 1)[-1]
    try:
        image = Image.open(io.BytesIO(base64.b64decode(value, validate=True)))
        image.load()
    except Exception as e:  # undecodable bytes are the client's
        raise RequestError(400, param, f"{param}: not a PNG or JPEG image ({e})", "invalid_image") from None
    return image


def sam_points(value, param, with_labels):
    """[[x, y(, label)], ...] -> clicks as tuples; a malformed entry is the client's 400 naming it."""
    if not isinstance(value, list) or not value:
        raise RequestError(400, param, f"{param}: expected a non-empty list of [x, y{', label' if with_labels else ''}]",
                           "invalid_region")
    points = []
    for j, p in enumerate(value):
        if not isinstance(p, list) or len(p) not in ((2, 3) if with_labels else (2,)) or \
                not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p):
            raise RequestError(400, f"{param}[{j}]", f"{param}[{j}]: expected [x, y{', label' if with_labels else ''}]",
                               "invalid_region")
        points.append(tuple(p))
    return points


def region_from_json(entry, index, segment):
    """One entry of `regions`; `segment(points)` turns SAM clicks into the best mask's region
    (None without a SAM model)."""
    param = f"regions[{index}]"
    if not isinstance(entry, dict) or len(entry) != 1:
        raise RequestError(400, param, f"{param}: expected one of mask, mask_png, box, polygon, points, scribble",
                           "invalid_region")
    kind, value = next(iter(entry.items()))
    if kind == "mask":
        return regionlm.Region.from_coco(value)
    if kind == "mask_png":
        pixels = np.asarray(decode_image(value, param + ".mask_png"))
        return regionlm.Region.from_mask(pixels if pixels.ndim == 2 else pixels.any(axis=2))
    if kind == "box":
        if not isinstance(value, list) or len(value) != 4:
            raise RequestError(400, param + ".box", f"{param}.box: expected [x0, y0, x1, y1]", "invalid_region")
        return regionlm.Region.from_box(*map(float, value))
    if kind == "polygon":
        return regionlm.Region.from_polygon(value)
    if kind in ("points", "scribble"):
        if segment is None:
            raise RequestError(400, param, f"{param}: {kind} need a SAM model (sam_dir)", "sam_unavailable")
        points = sam_points(value, f"{param}.{kind}", with_labels=kind == "points")
        if kind == "scribble":  # a positive stroke, sampled into clicks as regionlm-server does
            points = regionlm.scribble_points(points)
        return segment(points, f"{param}.{kind}")
    raise RequestError(400, param, f"{param}: unknown region kind '{kind}'", "invalid_region")


def generation_from_json(body):
    options = {}
    for field, (keyword, kind) in GENERATION_FIELDS.items():
        if field in body:
            if isinstance(body[field], bool) or not isinstance(body[field], (int, float)):
                raise RequestError(400, field, f"{field}: expected a number", "invalid_type")
            options[keyword] = kind(body[field])
    if "stop" in body:
        stop = body["stop"]
        options["stop"] = [stop] if isinstance(stop, str) else list(stop)
    return options


def finish_reason(answer):
    return {"eos": "stop", "stop_string": "stop"}.get(answer.stop_reason, answer.stop_reason)


@serve.deployment(
    ray_actor_options={"num_cpus": 1},  # a GPU cluster: {"num_gpus": 1} and device="cuda"
    autoscaling_config={"min_replicas": 1, "initial_replicas": 1, "max_replicas": 4,
                        "target_ongoing_requests": 2, "upscale_delay_s": 10, "downscale_delay_s": 120},
    max_ongoing_requests=8)
class RegionDescriber:
    """One replica: one Model; requests run in threads (the GIL is released while it computes)."""

    def __init__(self, model_dir, device="", threads=1, sam_dir=None):
        regionlm.set_num_threads(int(threads))
        self.model = regionlm.Model.load(model_dir, device=device)
        self.model_id = Path(model_dir).name
        # Segment Anything for "points", "scribble" and "everything" (as regionlm-server --sam).
        self.sam = regionlm.Sam.load(sam_dir, device=self.model.device) if sam_dir else None

    def segmenter(self, pixels):
        """segment(points, param) -> the region of the mask SAM rates best; SAM's encoder runs
        at most once per request."""
        if self.sam is None:
            return None
        embedded = []

        def segment(points, param):
            if not embedded:
                embedded.append(self.sam.encode(pixels))
            try:
                masks = self.sam.predict(embedded[0], points=points)
            except regionlm.ArgumentError as e:
                raise RequestError(422, param, f"{param}: {e}", "invalid_region") from None
            return masks.region(masks.best())
        return segment

    def describe(self, body):
        if not isinstance(body, dict):
            raise RequestError(400, None, "expected a JSON object", "invalid_request")
        if "image" not in body:
            raise RequestError(400, "image", "image: required", "missing_field")
        pixels = np.asarray(decode_image(body["image"], "image").convert("RGB"))
        if body.get("everything"):
            if self.sam is None:
                raise RequestError(400, "everything", "everything: needs a SAM model (sam_dir)", "sam_unavailable")
            regions = [m.region() for m in regionlm.generate_masks(self.sam, pixels)]
            if not regions:
                raise RequestError(422, "everything", "SAM's automatic mask generator found no region in the image",
                                   "no_region")
        else:
            entries = body.get("regions")
            if not isinstance(entries, list) or not entries:
                raise RequestError(400, "regions", "regions: expected a non-empty list (or \"everything\": true)",
                                   "invalid_type")
            segment = self.segmenter(pixels)
            regions = [region_from_json(entry, i, segment) for i, entry in enumerate(entries)]
        prompt = body.get("prompt", self.model.default_prompt)
        generation = generation_from_json(body)
        masks = []
        for i, region in enumerate(regions):
            try:
                masks.append(region.rasterize(pixels.shape[0], pixels.shape[1]))
            except regionlm.ArgumentError as e:
                raise RequestError(422, f"regions[{i}]", f"regions[{i}]: {e}", "invalid_region") from None
        started = time.perf_counter()
        try:
            answers = self.model.describe_each(pixels, regions, prompt, **generation)
        except regionlm.ArgumentError as e:
            raise RequestError(422, "prompt", f"prompt: {e}", "unprocessable_content") from None
        out = []
        for i, (answer, mask) in enumerate(zip(answers, masks)):
            ys, xs = np.nonzero(mask)
            bbox = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)] \
                if len(xs) else [0, 0, 0, 0]
            out.append({"id": i + 1, "text": answer.text, "finish_reason": finish_reason(answer),
                        "rle": {"size": list(mask.shape), "counts": regionlm.rle_encode(mask)},
                        "bbox": bbox, "area": int(len(xs))})
        prompt_tokens = sum(a.timings.prompt_tokens for a in answers)
        completion_tokens = sum(a.timings.generated_tokens for a in answers)
        return {"object": "regions.description", "model": self.model_id, "prompt": prompt, "regions": out,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
                "timings": {"total_ms": (time.perf_counter() - started) * 1000}}

    async def __call__(self, request: Request):
        if request.method != "POST":
            return JSONResponse({"error": {"message": "use POST", "type": "invalid_request_error", "param": None,
                                           "code": "method_not_allowed"}}, status_code=405)
        try:
            body = await request.json()
        except ValueError:
            return RequestError(400, None, "the body is not JSON", "invalid_json").response()
        try:
            # In a worker thread: the replica's event loop keeps accepting requests meanwhile.
            return JSONResponse(await asyncio.to_thread(self.describe, body))
        except RequestError as e:
            return e.response()
        except regionlm.Error as e:
            return RequestError(400, None, str(e), "invalid_request").response()


def app(args):
    """`serve run examples.ray.serve_describe:app model_dir=DIR [device=cuda] [sam_dir=PATH]`."""
    return RegionDescriber.bind(args["model_dir"], args.get("device", ""), int(args.get("threads", 1)),
                                args.get("sam_dir"))


def main():
    parser = argparse.ArgumentParser(description="regionlm's /v1/regions/describe on Ray Serve")
    parser.add_argument("--model", required=True, help="regionlm model directory")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (8000)")
    parser.add_argument("--device", default="", help="regionlm device ('' = CUDA when available)")
    parser.add_argument("--sam", default=None, help="Segment Anything weights: points, scribble, everything")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: start a local one)")
    args = parser.parse_args()
    # SIGTERM ends like Ctrl-C: Ray's exit handler then stops the local cluster it started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    ray.init(address=args.address)
    serve.start(http_options={"host": args.host, "port": args.port})
    serve.run(RegionDescriber.bind(args.model, args.device, 1, args.sam), route_prefix="/v1/regions/describe",
              blocking=True)


if __name__ == "__main__":
    main()
