"""PyTorch eager timings to set next to bench_vision (C++): ConvNeXt-Large trunk (timm 0.6.13,
the class open_clip's convnext_large_d_320 wraps) on one 512x512 input, float32 and
bfloat16, and the mlp2x_gelu projector on res4.

Usage: bench_vision_torch.py [--threads N] [--repeats R] [--save WEIGHTS.safetensors]

--threads: torch.set_num_threads (default: PyTorch's default); use the same for bench_vision
(REGIONLM_BENCH_THREADS). --save writes the trunk's weights (keys `visual.trunk.*`) so the C++
benchmark can run the very same weights (REGIONLM_BENCH_VISION_WEIGHTS).
"""
import argparse
import statistics
import time

import timm
import torch
from safetensors.torch import save_file


def randomise(module: torch.nn.Module) -> None:
    """Same recipe as bench_vision.cpp: fan-in scaled weights, gamma in [0.1, 1]."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("gamma"):
                p.uniform_(0.1, 1.0)
            elif p.dim() == 1:
                p.normal_(0.0, 0.02)
            else:
                p.normal_(0.0, 1.0 / p[0].numel() ** 0.5)


def time_ms(fn, repeats: int):
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples), min(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--save")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, timm {timm.__version__}, threads {torch.get_num_threads()}")

    trunk = timm.create_model("convnext_large", pretrained=False, num_classes=0, global_pool="")
    trunk.eval()
    randomise(trunk)
    if args.save:
        save_file({"visual.trunk." + k: v.contiguous() for k, v in trunk.state_dict().items()},
                  args.save)

    def stages(model, x):
        x = model.stem(x)
        outputs = []
        for stage in model.stages:
            x = stage(x)
            outputs.append(x)
        return outputs

    torch.manual_seed(1)
    pixels = torch.randn(1, 3, 512, 512)
    projector = torch.nn.Sequential(torch.nn.Linear(768, 4096), torch.nn.GELU(),
                                    torch.nn.Linear(4096, 4096))
    randomise(projector)
    res4 = torch.randn(1, 768, 32, 32)
    with torch.inference_mode():
        for dtype in (torch.float32, torch.bfloat16):
            model = trunk.to(dtype)
            x = pixels.to(dtype)
            median, best = time_ms(lambda: stages(model, x), args.repeats)
            print(f"convnext_large 512x512 {str(dtype)[6:]}: median {median:.0f} ms, min {best:.0f} ms")
            proj = projector.to(dtype)
            tokens = res4.to(dtype)
            median, best = time_ms(lambda: proj(tokens.flatten(2).transpose(1, 2)), args.repeats * 4)
            print(f"projector mlp2x_gelu res4 {str(dtype)[6:]}: median {median:.1f} ms, min {best:.1f} ms")


if __name__ == "__main__":
    main()
