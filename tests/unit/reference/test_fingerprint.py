"""Fingerprints: stable under reordering, changed by every component that changes reference log-probs."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import random

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from prefopt.config import ModelConfig
from prefopt.data.batch import TokenizedExample
from prefopt.reference.fingerprint import (
    FORMAT_VERSION,
    dtype_name,
    model_identity,
    reference_fingerprint,
    tokenizer_identity,
)
from tests.conftest import make_tiny_llama

CONFIG = dict(
    vocab_size=64,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
)


def make_examples(count: int = 6) -> list[TokenizedExample]:
    rng = random.Random(0)
    return [
        TokenizedExample(
            key=f"example-{i}",
            prompt_ids=tuple(rng.randrange(64) for _ in range(rng.randint(1, 6))),
            response_ids=tuple(tuple(rng.randrange(64) for _ in range(rng.randint(1, 6))) for _ in range(2 + i % 3)),
            ranks=tuple(range(2 + i % 3)),
        )
        for i in range(count)
    ]


def tiny_model(seed: int = 0) -> LlamaForCausalLM:
    return make_tiny_llama(seed=seed)


def make_tokenizer(vocab_size: int = 64, **kwargs) -> PreTrainedTokenizerFast:
    backend = Tokenizer(models.WordLevel({f"w{i}": i for i in range(vocab_size)}, unk_token="w2"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, **{"eos_token": "w1", "pad_token": "w0", **kwargs})


BASE = dict(
    model_identity="config:abc", dtype="bfloat16", tokenizer_identity="tokenizer:abc", settings={"max_length": 8}
)


def fingerprint(**changes):
    return reference_fingerprint(**{**BASE, "examples": make_examples(), **changes})


def test_digest_is_stable_under_order_duplicates_ranks_and_dtype_spelling():
    examples = make_examples()
    reordered = random.Random(1).sample(examples, len(examples)) + examples[:2]
    reranked = [dataclasses.replace(e, ranks=(0,) * len(e.ranks)) for e in examples]
    digests = {
        fingerprint().digest,
        fingerprint(examples=reordered).digest,
        fingerprint(examples=reranked).digest,
        fingerprint(dtype=torch.bfloat16).digest,
        fingerprint(settings={"max_length": 8}).digest,
    }
    assert len(digests) == 1
    components = fingerprint().components
    assert components["format_version"] == FORMAT_VERSION and components["dataset"]["num_examples"] == 6
    assert {"model", "dtype", "tokenizer", "settings"} <= components.keys()


def _one_token_changed(examples):
    first = examples[0]
    response = (first.response_ids[0][0] + 1, *first.response_ids[0][1:])
    return [dataclasses.replace(first, response_ids=(response, *first.response_ids[1:])), *examples[1:]]


def _responses_swapped(examples):
    first = examples[0]
    return [dataclasses.replace(first, response_ids=first.response_ids[::-1]), *examples[1:]]


def _token_moved_from_prompt_to_response(examples):
    first = examples[0]
    moved = (first.prompt_ids[-1], *first.response_ids[0])
    return [
        dataclasses.replace(first, prompt_ids=first.prompt_ids[:-1], response_ids=(moved, *first.response_ids[1:])),
        *examples[1:],
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {"model_identity": "config:abd"},
        {"dtype": "float32"},
        {"tokenizer_identity": "tokenizer:abd"},
        {"settings": {"max_length": 9}},
        {"examples": _one_token_changed(make_examples())},
        {"examples": _responses_swapped(make_examples())},
        {"examples": _token_moved_from_prompt_to_response(make_examples())},
        {"examples": make_examples()[:-1]},
        {"examples": [dataclasses.replace(make_examples()[0], key="renamed"), *make_examples()[1:]]},
    ],
    ids=["model", "dtype", "tokenizer", "settings", "token", "response-order", "prompt-boundary", "dropped", "key"],
)
def test_digest_changes_with_every_component(changes):
    assert fingerprint(**changes).digest != fingerprint().digest


def test_conflicting_examples_under_one_key_and_unknown_dtypes_are_rejected():
    examples = make_examples()
    with pytest.raises(ValueError, match="example-0"):
        fingerprint(examples=[*examples, _one_token_changed(examples)[0]])
    with pytest.raises(ValueError, match="unknown dtype"):
        dtype_name("float33")


def test_saved_model_directory_identity_is_stable_and_sees_one_changed_weight(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path / "a")
    first = model_identity(tmp_path / "a")
    assert first == model_identity(str(tmp_path / "a")) and first.startswith("files:")
    with torch.no_grad():
        model.model.norm.weight[0] += 1
    model.save_pretrained(tmp_path / "b")
    assert model_identity(tmp_path / "b") != first
    weights = next((tmp_path / "b").glob("*.safetensors"))
    assert model_identity(weights) != model_identity(next((tmp_path / "a").glob("*.safetensors")))


def test_memo_skips_rehashing_unchanged_files_and_rehashes_touched_ones(tmp_path):
    tiny_model().save_pretrained(tmp_path / "model")
    memo = tmp_path / "cache" / "file-hashes.json"
    truth = model_identity(tmp_path / "model", memo=memo)
    assert truth == model_identity(tmp_path / "model")
    entries = json.loads(memo.read_text())
    assert len(entries) == 2  # config.json and the weights
    weights = next(path for path in entries if path.endswith(".safetensors"))
    entries[weights]["sha256"] = "0" * 64  # a memo entry is trusted while size and mtime agree
    memo.write_text(json.dumps(entries))
    assert model_identity(tmp_path / "model", memo=memo) != truth
    stat = os.stat(weights)
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert model_identity(tmp_path / "model", memo=memo) == truth


def test_identity_of_missing_or_weightless_sources_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model_identity(tmp_path / "absent")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no .safetensors"):
        model_identity(tmp_path)


def test_config_identity_is_canonical_json():
    described = {"config": CONFIG, "seed": 0}
    assert model_identity(described) == model_identity({"seed": 0, "config": dict(reversed(CONFIG.items()))})
    assert model_identity(described) != model_identity({"config": CONFIG, "seed": 1})


def test_module_identity_follows_the_weights():
    model = tiny_model()
    identity = model_identity(model)
    assert identity == model_identity(tiny_model()) and identity.startswith("module:")
    assert model_identity(tiny_model(seed=1)) != identity
    with torch.no_grad():
        model.lm_head.weight[3, 5] += 1e-3
    assert model_identity(model) != identity
    assert model_identity(copy.deepcopy(model).to(torch.bfloat16)) != model_identity(model)


def test_tokenizer_identity_covers_vocabulary_special_tokens_and_chat_template():
    identity = tokenizer_identity(make_tokenizer())
    assert identity == tokenizer_identity(make_tokenizer()) and identity.startswith("tokenizer:")
    others = [
        make_tokenizer(vocab_size=65),
        make_tokenizer(pad_token="w3"),
        make_tokenizer(bos_token="w4"),
        make_tokenizer(chat_template="{{ messages[0]['content'] }}"),
    ]
    assert len({identity, *map(tokenizer_identity, others)}) == 5


class _VocabularyTokenizer:
    """A tokenizer without a fast backend: identified by its vocabulary, special tokens and chat template."""

    chat_template = None

    def __init__(self, vocab: dict[str, int], special: dict[str, str]):
        self.vocab, self.special_tokens_map = vocab, special

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.vocab[token]


def test_tokenizer_identity_without_a_fast_backend_uses_vocabulary_and_special_tokens():
    vocab = {"a": 0, "b": 1, "c": 2}
    identity = tokenizer_identity(_VocabularyTokenizer(vocab, {"eos_token": "a"}))
    assert identity == tokenizer_identity(_VocabularyTokenizer(dict(reversed(vocab.items())), {"eos_token": "a"}))
    assert identity != tokenizer_identity(_VocabularyTokenizer(vocab, {"eos_token": "b"}))
    assert identity != tokenizer_identity(_VocabularyTokenizer({"a": 0, "b": 2, "c": 1}, {"eos_token": "a"}))


def test_the_forward_layout_is_part_of_a_runs_fingerprint():
    from prefopt.config import RunConfig
    from prefopt.model.load import load_tokenizer
    from prefopt.reference import reference_source
    from prefopt.reference.fingerprint import cache_fingerprint

    config = RunConfig()
    tokenizer = load_tokenizer(config.model)
    source = reference_source(config.model, len(tokenizer), config.seed)
    examples = [TokenizedExample("e", (3, 4), ((5, 6), (7,)), (0, 1))]
    packed, padded = (
        cache_fingerprint(
            source, "float32", tokenizer, config.data, examples, memo=None, forward=ModelConfig(packed_forward=packed)
        )
        for packed in (True, False)
    )
    assert packed.digest != padded.digest
    assert (packed.components["settings"]["packed_forward"], padded.components["settings"]["packed_forward"]) == (
        True,
        False,
    )
