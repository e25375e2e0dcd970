"""Shared fixtures of the Python tests: the bundled tiny-shapes model and scene, and the C++
command-line programs the bindings are compared with (ctest passes their paths)."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import regionlm

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models" / "tiny-shapes"
SCENE_DIR = ROOT / "examples" / "data" / "tiny-shapes-scene"
SCENE_IMAGE = SCENE_DIR / "image.png"
SCENE_MASKS = sorted(SCENE_DIR.glob("mask_*.png"))


def program(name):
    """regionlm-<name> of the build tree: REGIONLM_<NAME>_BIN names it (ctest sets it)."""
    variable = f"REGIONLM_{name.upper()}_BIN"
    if not os.environ.get(variable):
        pytest.fail(f"{variable} is not set: run the Python tests through ctest (ctest -L python)")
    return os.environ[variable]


def run_cli(name, args, stdin=None):
    """Runs regionlm-<name> with `args`; returns its stdout (fails the test on a non-zero exit)."""
    done = subprocess.run([program(name), *map(str, args)], input=stdin, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"regionlm-{name} {' '.join(map(str, args))} failed:\n{done.stderr}"
    return done.stdout


def describe_cli(args):
    """regionlm-describe on the tiny-shapes model, CPU, --json: its parsed answers."""
    out = run_cli("describe", ["--model", MODEL_DIR, "--device", "cpu", "--json", *args])
    return json.loads(out)["answers"]


def read_mask(path):
    """A mask PNG as the CLI reads it: non-zero in any channel = inside."""
    pixels = np.asarray(Image.open(path))
    return pixels if pixels.ndim == 2 else pixels.any(axis=2)


def read_rgb(path):
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="session")
def model():
    return regionlm.Model.load(MODEL_DIR, device="cpu")


@pytest.fixture(scope="session")
def scene(model):
    return model.encode(SCENE_IMAGE)


@pytest.fixture(scope="session")
def masks():
    return [read_mask(p) for p in SCENE_MASKS]
