#!/usr/bin/env python3
"""Ask regionlm-server about a region with the official `openai` package, unmodified.

The image goes in the message as a data URL, exactly as for any vision model; the regions go in
the request's extra `regions` field (here one mask PNG), which the openai package sends through
`extra_body`. The same question is asked twice: once for a whole answer, once streamed.

    python examples/server/client.py --base-url http://127.0.0.1:8080/v1 \\
        --image examples/data/tiny-shapes-scene/image.png \\
        --mask examples/data/tiny-shapes-scene/mask_2.png
"""
import argparse
import base64
import json
import os

from openai import OpenAI


def data_url(path):
    media = "image/jpeg" if path.lower().endswith((".jpg", ".jpeg")) else "image/png"
    with open(path, "rb") as f:
        return f"data:{media};base64," + base64.b64encode(f.read()).decode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8080/v1")
    parser.add_argument("--api-key", default=os.environ.get("REGIONLM_API_KEY", "none"),
                        help="the server's --api-key, if it has one")
    parser.add_argument("--image", required=True, help="PNG or JPEG")
    parser.add_argument("--mask", required=True, help="mask PNG at the image's size (non-zero = region)")
    parser.add_argument("--question", default="What is <region1>?")
    parser.add_argument("--json", action="store_true", help="print one JSON object (for tests)")
    args = parser.parse_args()

    client = OpenAI(base_url=args.base_url, api_key=args.api_key)
    model = client.models.list().data[0].id
    with open(args.mask, "rb") as f:
        regions = [{"mask_png": base64.b64encode(f.read()).decode()}]
    messages = [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": data_url(args.image)}},
        {"type": "text", "text": args.question},
    ]}]

    completion = client.chat.completions.create(
        model=model, messages=messages, max_tokens=64, extra_body={"regions": regions})
    answer = completion.choices[0].message.content

    pieces = []
    usage = None
    stream = client.chat.completions.create(
        model=model, messages=messages, max_tokens=64, extra_body={"regions": regions},
        stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    streamed = "".join(pieces)

    if args.json:
        print(json.dumps({"model": model, "answer": answer, "streamed": streamed,
                          "finish_reason": completion.choices[0].finish_reason,
                          "completion_tokens": completion.usage.completion_tokens,
                          "stream_pieces": len(pieces),
                          "stream_completion_tokens": usage.completion_tokens if usage else None}))
        return
    usage = completion.usage
    details = usage.prompt_tokens_details  # regionlm adds image_tokens and region_tokens here
    print(f"model: {model}")
    print(f"{args.question} -> {answer}")
    print(f"  {usage.prompt_tokens} prompt tokens ({getattr(details, 'image_tokens', '?')} image, "
          f"{getattr(details, 'region_tokens', '?')} region), {usage.completion_tokens} completion tokens, "
          f"finish_reason {completion.choices[0].finish_reason}")
    print(f"streamed in {len(pieces)} pieces: {streamed}")


if __name__ == "__main__":
    main()
