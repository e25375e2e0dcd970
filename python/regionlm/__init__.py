"""regionlm: region-level multimodal LLM inference (Osprey, GPT4RoI) and Segment Anything.

    import regionlm
    model = regionlm.Model.load("models/tiny-shapes", device="cpu")
    image = model.encode("examples/data/tiny-shapes-scene/image.png")
    answer = model.describe(image, [regionlm.Region.from_box(8, 99, 83, 174)])
    print(answer.text)

docs/python.md describes the whole module.
"""
from .errors import ArgumentError, ConfigError, Error, FormatError, IoError, ShapeError, WeightError
from ._core import (  # noqa: F401
    Answer,
    ChatSession,
    EncodedImage,
    GeneratedMask,
    Masks,
    Model,
    Region,
    RegionMention,
    Sam,
    SamImage,
    Step,
    Timings,
    __version__,
    generate_masks,
    get_num_threads,
    rle_decode,
    rle_encode,
    scribble_points,
    set_num_threads,
)

__all__ = [
    "Answer",
    "ArgumentError",
    "ChatSession",
    "ConfigError",
    "EncodedImage",
    "Error",
    "FormatError",
    "GeneratedMask",
    "IoError",
    "Masks",
    "Model",
    "Region",
    "RegionMention",
    "Sam",
    "SamImage",
    "ShapeError",
    "Step",
    "Timings",
    "WeightError",
    "__version__",
    "generate_masks",
    "get_num_threads",
    "rle_decode",
    "rle_encode",
    "scribble_points",
    "set_num_threads",
]
