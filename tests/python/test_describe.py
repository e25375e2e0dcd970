"""regionlm.Model against the C++ command-line programs on the same inputs: the same answers and
token ids for describe, describe_each and chat; threads; numpy images; the step callback."""
import json
import threading

import numpy as np
import pytest

import regionlm
from conftest import MODEL_DIR, SCENE_IMAGE, SCENE_MASKS, describe_cli, read_rgb, run_cli


def answers_equal(python_answers, cli_answers):
    assert [a.text for a in python_answers] == [a["text"] for a in cli_answers]
    assert [a.tokens.tolist() for a in python_answers] == [a["tokens"] for a in cli_answers]
    assert [a.stop_reason for a in python_answers] == [a["stop_reason"] for a in cli_answers]


def test_describe_each_matches_cli(model, scene, masks):
    mask_args = [arg for path in SCENE_MASKS for arg in ("--mask", path)]
    cli = describe_cli(["--image", SCENE_IMAGE, *mask_args])
    answers = model.describe_each(scene, [regionlm.Region.from_mask(m) for m in masks])
    assert len(answers) == len(SCENE_MASKS)
    answers_equal(answers, cli)
    assert all(a.text for a in answers)  # the trained model describes every shape


def test_describe_two_regions_matches_cli(model, masks):
    question = "Is <region1> left of <region2>?"
    cli = describe_cli(["--image", SCENE_IMAGE, "--mask", SCENE_MASKS[0], "--box", "60,90,150,220",
                        "--prompt", question])
    regions = [regionlm.Region.from_mask(masks[0]), regionlm.Region.from_box(60, 90, 150, 220)]
    by_path = model.describe(SCENE_IMAGE, regions, question)
    by_pixels = model.describe(read_rgb(SCENE_IMAGE), regions, question)
    answers_equal([by_path], cli)
    answers_equal([by_pixels], cli)
    assert by_path.encode_ms > 0 and by_pixels.encode_ms > 0  # encoded inside the call


def test_sampling_options_match_cli(model, scene, masks):
    options = dict(max_new_tokens=6, temperature=0.9, top_k=20, top_p=0.95, repetition_penalty=1.3, seed=7)
    cli = describe_cli(["--image", SCENE_IMAGE, "--mask", SCENE_MASKS[1], "--max-new-tokens", 6,
                        "--temperature", 0.9, "--top-k", 20, "--top-p", 0.95, "--repetition-penalty", 1.3,
                        "--seed", 7])
    answer = model.describe(scene, [regionlm.Region.from_mask(masks[1])], **options)
    answers_equal([answer], cli)
    assert len(answer.tokens) <= 6


def test_rle_and_polygon_regions_match_cli(model, scene, masks, tmp_path):
    rle = {"size": list(masks[2].shape), "counts": regionlm.rle_encode(masks[2])}
    (tmp_path / "rle.json").write_text(json.dumps(rle))
    cli = describe_cli(["--image", SCENE_IMAGE, "--rle-json", tmp_path / "rle.json"])
    answers_equal([model.describe(scene, [regionlm.Region.from_coco(rle)])], cli)
    answers_equal([model.describe(scene, [regionlm.Region.from_rle(rle["counts"], *rle["size"])])], cli)


def test_chat_matches_cli(model, scene, masks):
    questions = ["What is <region1>?", "Is <region1> left of <region2>?", "What color is <region2>?"]
    cli_lines = run_cli("chat", ["--model", MODEL_DIR, "--device", "cpu", "--image", SCENE_IMAGE, "--mask",
                                 SCENE_MASKS[0], "--mask", SCENE_MASKS[3], "--json"],
                        stdin="\n".join(questions) + "\n").splitlines()
    cli = [json.loads(line) for line in cli_lines if line.startswith("{")]
    chat = model.chat(scene, [regionlm.Region.from_mask(masks[0]), regionlm.Region.from_mask(masks[3])])
    answers = [chat.ask(q) for q in questions]
    answers_equal(answers, cli)
    assert [q for q, _ in chat.history] == questions
    assert chat.cached_positions > 0
    chat.reset()
    assert chat.history == [] and chat.ask(questions[0]).text == answers[0].text


def test_threads_sharing_one_model_give_the_sequential_answers(model, scene, masks):
    prompts = [None, "What color is <region>?", "What shape is <region>?", "Is <region1> left of <region2>?"]
    jobs = [(p, [regionlm.Region.from_mask(masks[i % 4]), regionlm.Region.from_mask(masks[(i + 1) % 4])]
             if p and "<region2>" in p else [regionlm.Region.from_mask(masks[i % 4])]) for i, p in enumerate(prompts)]
    sequential = [model.describe(scene, regions, prompt).tokens.tolist() for prompt, regions in jobs]
    results = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def work(i):
        start.wait()
        for _ in range(3):  # several rounds so that the calls overlap
            prompt, regions = jobs[i]
            results[i] = model.describe(scene, regions, prompt).tokens.tolist()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == sequential


def test_threads_joining_one_continuous_batch_give_the_sequential_answers(masks):
    batched = regionlm.Model.load(MODEL_DIR, device="cpu", batch_rows=4)
    scene = batched.encode(SCENE_IMAGE)
    regions = [regionlm.Region.from_mask(m) for m in masks]
    prompts = [None, "What color is <region>?", "What shape is <region>?", None]
    sequential = [batched.describe(scene, [regions[i]], prompts[i]).tokens.tolist() for i in range(4)]
    before = batched.batch_stats["requests"]
    results, pieces = [None] * 4, [[] for _ in range(4)]
    start = threading.Barrier(4)

    def work(i):
        start.wait()
        # on_step runs on the batch's worker thread: the callback takes the GIL there.
        results[i] = batched.describe(scene, [regions[i]], prompts[i], on_step=lambda s: pieces[i].append(s.piece))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.tokens.tolist() for r in results] == sequential
    assert ["".join(p) for p in pieces] == [r.text for r in results]
    assert batched.batch_stats["requests"] - before == 4


def test_on_step_pieces_make_the_answer_and_false_cancels(model, scene, masks):
    region = [regionlm.Region.from_mask(masks[0])]
    steps = []
    answer = model.describe(scene, region, on_step=steps.append)  # returns None: go on
    assert "".join(s.piece for s in steps) == answer.text
    assert [s.token for s in steps] == answer.tokens.tolist()
    assert steps[-1].finished and not any(s.finished for s in steps[:-1])

    cancelled = model.describe(scene, region, on_step=lambda step: False)
    assert cancelled.stop_reason == "cancelled" and len(cancelled.tokens) == 1

    def boom(step):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        model.describe(scene, region, on_step=boom)


def test_numpy_views_are_read_in_place(model, scene, masks):
    pixels = read_rgb(SCENE_IMAGE)
    padded = np.zeros((pixels.shape[0] + 6, pixels.shape[1] + 10, 3), np.uint8)
    padded[3:-3, 5:-5] = pixels
    view = padded[3:-3, 5:-5]  # rows strided: encoded from the caller's memory
    assert not view.flags.c_contiguous
    region = [regionlm.Region.from_mask(masks[0])]
    expected = model.describe(scene, region).tokens.tolist()
    assert model.describe(view, region).tokens.tolist() == expected
    assert model.describe(np.ascontiguousarray(pixels[:, :, ::-1])[:, :, ::-1], region).tokens.tolist() == expected
    # Masks: any dtype, strided; the same region.
    strided_mask = np.zeros((masks[0].shape[0], masks[0].shape[1] * 2), np.float32)[:, ::2]
    strided_mask[masks[0] != 0] = 0.5
    assert model.describe(scene, [regionlm.Region.from_mask(strided_mask)]).tokens.tolist() == expected
    # Outputs: the answer's ids are a read-only view of its own buffer.
    tokens = model.describe(scene, region).tokens
    assert tokens.dtype == np.int64 and not tokens.flags.writeable and not tokens.flags.owndata


def test_model_properties(model, scene):
    assert model.family == "osprey" and model.device == "cpu" and model.dtype == "float32"
    assert model.default_prompt == "Please give me a short description of <region>. Using a short phrase."
    config = json.loads((MODEL_DIR / "config.json").read_text())
    assert model.context_length == config["max_position_embeddings"]
    assert scene.image_tokens.shape == (model.image_token_count, config["hidden_size"])
    assert not scene.image_tokens.flags.writeable  # the encoded image is shared, immutable state
    assert (scene.height, scene.width) == read_rgb(SCENE_IMAGE).shape[:2]
    ids = model.tokenize("a blue square")
    assert ids.dtype == np.int64 and model.detokenize(ids.tolist()) == "a blue square"
    stages = []
    regionlm.Model.load(MODEL_DIR, device="cpu", on_progress=lambda fraction, stage: stages.append(fraction))
    assert stages and stages[-1] == pytest.approx(1.0)
