"""Reference token ids for the regionlm text parity tests.

Usage: tokenizer_reference.py OUT_DIR

Trains a small SentencePiece BPE model with LLaMA's settings on a corpus written here, saves
it as a Hugging Face LLaMA tokenizer directory with Osprey's added tokens (<mask>, <pos>),
then loads that directory the way Osprey does (transformers 4.31 `AutoTokenizer`, then
`add_tokens(['<mask>', '<pos>'], special_tokens=True)`), once as the fast tokenizer
(`use_fast=True`, what Osprey's training and demo code use) and once as the slow/legacy one,
and writes OUT_DIR/reference.json with the ids, decodings and full Osprey prompts
(conversation template + `tokenizer_image_token`, re-implemented below from the spec).
"""
import json
import os
import re
import sys
import types

import sentencepiece as spm

OUT = sys.argv[1]
HF_DIR = os.path.join(OUT, "hf")
os.makedirs(HF_DIR, exist_ok=True)

# ---------------------------------------------------------------------------------------------
# Corpus: the prompt vocabulary plus varied text (digits, accents, CJK, emoji, white space).
SYSTEM_OSPREY = ("A chat between a curious human and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the human's questions.")
SYSTEM_VICUNA = ("A chat between a curious user and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the user's questions.")
SHORT_Q = "Please give me a short description of <mask><pos>. Using a short phrase."
DETAILED_Q = "Can you give me a detailed description of <mask><pos>?"
CATEGORY_Q = "What is the category of <mask><pos>? Using only one word or phrase."
OPEN_VOCAB_Q = "What is in <mask><pos>? Using a short phrase."
DEMO_PREFIX = "<image>\n\nThis provides an overview of the picture.\n"
EVAL_PREFIX = "<image>\n.\nThis provides an overview of the picture.\n"
TRAIN_PREFIX = "<image>\nThis provides an overview of the picture.\n"


def region_header(n):
    # Osprey's training data (datasets/*.py): "Ther are 1 part region" / "Ther are N part regions".
    regions = ",".join(f"region{i + 1}<mask><pos>" for i in range(n))
    return f"Ther are {n} part region{'' if n == 1 else 's'} in the picture: {regions}. "


sentences = [
    SYSTEM_OSPREY, SYSTEM_VICUNA, SHORT_Q, DETAILED_Q, CATEGORY_Q, OPEN_VOCAB_Q,
    "This provides an overview of the picture.",
    "USER: hello ASSISTANT: a brown dog sitting on the grass.",
    "The dog is sitting on a wooden bench next to a red bicycle near the river.",
    "A woman in a blue coat holds an umbrella while walking across the busy street.",
    "There are 3 cats, 12 birds and 1024 tokens; the year was 2024 and pi is 3.14159.",
    "Phone 555-0199, price $1,299.99, ratio 16:9, 50% off, item #42.",
    "Un café à Paris, très élégant. Straße, naïve, coöperate, Ångström, Øresund.",
    "日本語のテキストです。中文文本。Привет, мир! Γειά σου κόσμε.",
    "Emoji time 😀 🐱 👍🏽 🚗 🇫🇷 👩‍👩‍👧 ✨.",
    "Tabs\tand\tnewlines\nare\nwhitespace   too.",
    "region1 region2 region3 region4 region5 part regions picture category phrase",
]
words = ("the a of and to in is on with for at by from this that what which where how "
         "region picture image mask position object person car tree sky building window "
         "left right top bottom small large red green blue white black color shape").split()
lines = []
for i in range(400):
    # Deterministic pseudo-random word salad so that BPE has plenty of merges to learn.
    w = [words[(i * 7 + j * 13 + (i * j) % 5) % len(words)] for j in range(6 + i % 9)]
    lines.append(" ".join(w).capitalize() + ("." if i % 3 else "?") + f" {i * 37 % 1000}")
corpus_file = os.path.join(OUT, "corpus.txt")
with open(corpus_file, "w", encoding="utf-8") as f:
    for k in range(6):
        f.write("\n".join(sentences) + "\n")
    f.write("\n".join(lines) + "\n")

spm.SentencePieceTrainer.train(
    input=corpus_file, model_prefix=os.path.join(HF_DIR, "tokenizer"), model_type="bpe",
    vocab_size=900, byte_fallback=True, split_digits=True, add_dummy_prefix=True,
    unk_id=0, bos_id=1, eos_id=2, pad_id=-1, normalization_rule_name="identity",
    allow_whitespace_only_pieces=True, remove_extra_whitespaces=False,
    split_by_unicode_script=True, split_by_whitespace=True, split_by_number=True,
    max_sentencepiece_length=16, character_coverage=0.99995, num_threads=1,
    max_sentence_length=100000, minloglevel=2)
os.remove(os.path.join(HF_DIR, "tokenizer.vocab"))

# ---------------------------------------------------------------------------------------------
# transformers 4.31 converts the slow tokenizer to the fast one by parsing tokenizer.model with
# protobuf, which this venv lacks; hand its converter the same fields read through
# sentencepiece instead (pieces and scores, BPE, <unk>, byte fallback). The conversion itself
# (LlamaConverter: merges, Prepend("▁") + Replace(" ", "▁") normalizer, decoder) is transformers'.
from transformers import AutoTokenizer, LlamaTokenizer  # noqa: E402
from transformers import convert_slow_tokenizer as cst  # noqa: E402


def _spm_proto_init(self, *args):
    cst.Converter.__init__(self, *args)
    sp = spm.SentencePieceProcessor(model_file=self.original_tokenizer.vocab_file)
    pieces = [types.SimpleNamespace(piece=sp.id_to_piece(i), score=sp.get_score(i))
              for i in range(sp.get_piece_size())]
    self.proto = types.SimpleNamespace(
        pieces=pieces,
        trainer_spec=types.SimpleNamespace(model_type=2, unk_piece=sp.id_to_piece(sp.unk_id()),
                                           unk_id=sp.unk_id(), byte_fallback=True),
        normalizer_spec=types.SimpleNamespace(precompiled_charsmap=b""))


cst.SpmConverter.__init__ = _spm_proto_init

# The checkpoint directory as Osprey ships it: tokenizer.model, added_tokens.json
# ({"<mask>": V, "<pos>": V+1}), special_tokens_map.json (pad = unk) and tokenizer_config.json.
writer = LlamaTokenizer(os.path.join(HF_DIR, "tokenizer.model"), legacy=True)
writer.add_tokens(["<mask>", "<pos>"], special_tokens=True)
writer.pad_token = writer.unk_token
writer.save_pretrained(HF_DIR)


def osprey_tokenizer(use_fast):
    tok = AutoTokenizer.from_pretrained(HF_DIR, use_fast=use_fast, padding_side="right")
    tok.add_tokens(["<mask>", "<pos>"], special_tokens=True)  # as Osprey's demo/eval code does
    return tok


fast = osprey_tokenizer(True)
slow = osprey_tokenizer(False)
assert type(fast).__name__ == "LlamaTokenizerFast" and type(slow).__name__ == "LlamaTokenizer"
assert len(fast) == len(slow) == fast.vocab_size + 2


# ---------------------------------------------------------------------------------------------
# Osprey's prompt construction, from the spec (§5): conv "TWO" style with sep " " and
# sep2 "</s>", then tokenizer_image_token.
def render(system, history, question, image_prefix):
    messages = []
    for user, answer in history:
        messages += [("USER", user), ("ASSISTANT", answer)]
    messages += [("USER", question), ("ASSISTANT", None)]
    if image_prefix is not None:
        messages[0] = ("USER", image_prefix + messages[0][1])
    out = system + " "
    for i, (role, text) in enumerate(messages):
        out += f"{role}: {text}" + (" " if i % 2 == 0 else "</s>") if text is not None else f"{role}:"
    return out


def tokenizer_image_token(prompt, tok, image_token_index=-200):
    pieces = [tok(piece).input_ids for piece in prompt.split("<image>")]
    ids = [pieces[0][0]]  # BOS once, at the start
    for i, piece in enumerate(pieces):
        if i > 0:
            ids.append(image_token_index)
        ids.extend(piece[1:])
    return ids


def osprey_spelling(text):
    return re.sub(r"<region\d*>", "<mask><pos>", text)


texts = [
    SYSTEM_OSPREY, SYSTEM_VICUNA, SHORT_Q, DETAILED_Q, CATEGORY_Q, OPEN_VOCAB_Q,
    DEMO_PREFIX + SHORT_Q, EVAL_PREFIX + CATEGORY_Q,
    region_header(1) + DETAILED_Q, region_header(3) + OPEN_VOCAB_Q,
    f"{SYSTEM_OSPREY} USER: ", f"{SYSTEM_OSPREY} USER: {SHORT_Q} ASSISTANT:",
    "a <mask><pos> b", "x</s>USER:", "ASSISTANT: a brown dog.</s>USER: and this? ASSISTANT:",
    "<mask> <pos>", "<mask>  <pos>\n", "of <mask><pos>.", "\t<mask><pos>\t", "\n<mask><pos>\n",
    "hi <s> there", "<s>", "</s>", "<unk>", "<mask>", "<pos>", "<mask><pos>", "</s></s>",
    "region10<mask><pos>,region11<mask><pos>", "<0x41> is not a byte", "<region1> stays text",
    "", " ", "  ", "\n", "  leading spaces", "trailing spaces  ", "  both  ", "\n\nnewlines\n\n",
    "tabs\tand\r\nCRLF\r\n", "multiple   inner    spaces",
    "Un café à Paris, très élégant.", "Straße naïve Ångström Øresund", "日本語のテキストです。",
    "中文文本 and English", "Привет, мир!", "Γειά σου κόσμε", "ƒ∂ß unseen ∆˚¬ chars 龘",
    "😀", "Emoji 😀 🐱 👍🏽 🚗 🇫🇷 👩‍👩‍👧 ✨ end", "🦜🦩🪿 unseen emoji",
    "3.14159", "1,000,000 and 2024-01-31", "0123456789", "x1y22z333",
    "Ther are 2 part regions in the picture: region1<mask><pos>,region2<mask><pos>. ",
]

conversations = [
    dict(name="short_1region", template="osprey_v1", history=[], question=SHORT_Q, regions=1),
    dict(name="detailed_1region", template="osprey_v1", history=[], question=DETAILED_Q, regions=1),
    dict(name="category_1region", template="osprey_v1", history=[], question=CATEGORY_Q, regions=1),
    dict(name="open_vocab_1region", template="osprey_v1", history=[], question=OPEN_VOCAB_Q, regions=1),
    dict(name="eval_prefix", template="osprey_v1", history=[], question=CATEGORY_Q, regions=1,
         image_prefix=EVAL_PREFIX),
    dict(name="user_placeholder_1region", template="osprey_v1", history=[],
         question="What is <region> doing? Using a short phrase.", regions=1),
    dict(name="header_3regions", template="osprey_v1", history=[],
         question=region_header(3) + "How is region1 related to region3?", regions=3),
    dict(name="numbered_5regions", template="osprey_v1", history=[],
         question="Ther are 5 part regions in the picture: " +
                  ",".join(f"region{i}<region{i}>" for i in range(1, 6)) + ". Which one is largest?",
         regions=5),
    dict(name="repeated_2regions", template="osprey_v1", history=[],
         question="Is <region1> left of <region2>? And <region1>'s colour?", regions=2),
    dict(name="spaces_around_placeholders", template="osprey_v1", history=[],
         question="Compare <region1> , <region2>and<region1>  .", regions=2),
    dict(name="multi_turn", template="osprey_v1",
         history=[[SHORT_Q, "a brown dog."], ["What colour is it?", "It is brown 🐕 and white."]],
         question="Where is <region1> looking?", regions=1),
    dict(name="vicuna_training_prefix", template="vicuna_v1", history=[],
         question="Describe <region1> and <region2>.", regions=2, image_prefix=TRAIN_PREFIX),
    dict(name="text_only", template="osprey_v1", history=[], question="Hello, how are you?",
         regions=0, image_prefix=None),
    dict(name="non_ascii_emoji", template="osprey_v1", history=[],
         question="Qu'est-ce que <region> ? 😀 日本語 Straße 42", regions=1),
    dict(name="edge_whitespace", template="osprey_v1", history=[],
         question="  What is <region>?\n\n", regions=1),
    # The library introduces regions the first question leaves unmentioned: Python writes the
    # header out, the C++ side gets the question alone (library_question / library_history).
    dict(name="introduced_1of3", template="osprey_v1", history=[],
         question=region_header(3) + "What is <region2>?", library_question="What is <region2>?", regions=3),
    dict(name="introduced_sequential", template="osprey_v1", history=[],
         question=region_header(2) + "Is <region> round?", library_question="Is <region> round?", regions=2),
    dict(name="introduced_none_named", template="osprey_v1", history=[],
         question=region_header(1) + "What is this?", library_question="What is this?", regions=1),
    dict(name="introduced_then_any_turn", template="osprey_v1",
         history=[[region_header(2) + "What is <region1>?", "a red circle"]],
         library_history=[["What is <region1>?", "a red circle"]],
         question="What color is <region2>?", regions=2),
]
SYSTEMS = {"osprey_v1": SYSTEM_OSPREY, "vicuna_v1": SYSTEM_VICUNA}
PREFIXES = {"osprey_v1": DEMO_PREFIX, "vicuna_v1": TRAIN_PREFIX}

result = {"hf_dir": HF_DIR, "model_file": os.path.join(HF_DIR, "tokenizer.model"),
          "vocab_size": fast.vocab_size, "size": len(fast), "mask_id": fast.convert_tokens_to_ids("<mask>"),
          "pos_id": fast.convert_tokens_to_ids("<pos>"), "texts": [], "conversations": []}
for text in texts:
    entry = {"text": text}
    for kind, tok in (("fast", fast), ("slow", slow)):
        with_bos = tok(text).input_ids
        entry[kind] = tok(text, add_special_tokens=False).input_ids
        entry[kind + "_bos"] = with_bos
        # Decoding as Osprey does it (batch_decode(..., skip_special_tokens=True)).
        entry[kind + "_decoded"] = tok.decode(with_bos, skip_special_tokens=True)
    result["texts"].append(entry)
# The training corpus itself, line by line (the texts above, and ~400 more lines).
for line in dict.fromkeys(open(corpus_file, encoding="utf-8").read().split("\n")):
    result.setdefault("corpus", []).append({
        "text": line, "fast_bos": fast(line).input_ids, "slow_bos": slow(line).input_ids,
        "fast_decoded": fast.decode(fast(line).input_ids, skip_special_tokens=True)})
for conv in conversations:
    prefix = conv.get("image_prefix", PREFIXES[conv["template"]])
    history = [[osprey_spelling(u), a] for u, a in conv["history"]]
    prompt = render(SYSTEMS[conv["template"]], history, osprey_spelling(conv["question"]), prefix)
    entry = dict(conv, include_image=prefix is not None, prompt=prompt)
    entry["image_prefix"] = prefix
    for kind, tok in (("fast", fast), ("slow", slow)):
        entry[kind] = tokenizer_image_token(prompt, tok) if prefix is not None else tok(prompt).input_ids
    result["conversations"].append(entry)

with open(os.path.join(OUT, "reference.json"), "w", encoding="utf-8") as f:
    json.dump(result, f, ensure_ascii=False, indent=1)
print(os.path.join(OUT, "reference.json"))
