"""The reference log-prob cache: values equal the live forward, addressed by key, stored atomically, verified."""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
import textwrap
import warnings
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import LlamaForCausalLM

from prefopt.data.batch import TokenizedExample, collate
from prefopt.model.logprobs import choose_layout, sequence_logprobs
from prefopt.reference import (
    MEMO_NAME,
    CacheJob,
    ReferenceCache,
    build_reference_cache,
    cache_info,
    clear_cache,
    get_or_build,
    reference_batches,
    reference_fingerprint,
)
from prefopt.reference import cache as cache_file
from tests.conftest import make_tiny_llama

ROOT = Path(__file__).resolve().parents[3]
PAD = 0
SLOTS = 4


def make_examples(count: int, seed: int = 0) -> list[TokenizedExample]:
    """``count`` examples with 2..4 ranked responses of varying lengths, random ids in [1, 64)."""
    rng = random.Random(seed)
    examples = []
    for i in range(count):
        k = rng.randint(2, SLOTS)
        examples.append(
            TokenizedExample(
                key=f"example-{i:03d}",
                prompt_ids=tuple(rng.randrange(1, 64) for _ in range(rng.randint(1, 9))),
                response_ids=tuple(tuple(rng.randrange(1, 64) for _ in range(rng.randint(1, 12))) for _ in range(k)),
                ranks=tuple(sorted(rng.randrange(k) for _ in range(k))),
            )
        )
    return examples


@pytest.fixture(scope="module")
def model() -> LlamaForCausalLM:
    return make_tiny_llama()


@pytest.fixture(scope="module")
def examples() -> list[TokenizedExample]:
    return make_examples(14)


def fingerprint_for(examples, dtype="float32", model_identity="config:tiny-llama"):
    return reference_fingerprint(
        model_identity=model_identity,
        dtype=dtype,
        tokenizer_identity="tokenizer:test",
        settings={"max_length": 32},
        examples=examples,
    )


def job_for(examples, cache_dir, fingerprint=None, batch_size=4):
    fingerprint = fingerprint or fingerprint_for(examples)
    return CacheJob(examples, fingerprint, cache_dir, batch_size=batch_size, pad_token_id=PAD, progress=False)


def build(model, examples, cache_dir, batch_size=4):
    fingerprint = fingerprint_for(examples, dtype=next(model.parameters()).dtype)
    return build_reference_cache(model, job_for(examples, cache_dir, fingerprint, batch_size))


def live(model, group, num_slots=None):
    with torch.inference_mode():
        return sequence_logprobs(model, collate(group, PAD, num_slots), choose_layout(model)).summed


@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cached_values_equal_live_forward_over_the_same_batches(model, examples, tmp_path, batch_size, dtype):
    model = copy.deepcopy(model).to(dtype)
    cache = build(model, examples, tmp_path, batch_size=batch_size)
    for group in reference_batches(examples, batch_size):
        expected = live(model, group)
        assert torch.equal(cache.lookup([e.key for e in group], expected.shape[1]), expected)


def test_cached_values_match_other_batch_compositions_up_to_rounding(model, examples, tmp_path):
    cache = build(model, examples, tmp_path, batch_size=4)
    shuffled = random.Random(1).sample(examples, len(examples))
    for start in range(0, len(shuffled), 5):
        group = shuffled[start : start + 5]
        expected = live(model, group, SLOTS)
        cached = cache.lookup([e.key for e in group], SLOTS)
        torch.testing.assert_close(cached, expected, rtol=0, atol=1e-5)
        assert torch.equal(cached == 0, expected == 0)  # padding slots hold exactly 0, real ones never do


def test_build_does_not_depend_on_input_order_or_duplicates(model, examples, tmp_path):
    first = build(model, examples, tmp_path / "a")
    shuffled = random.Random(2).sample(examples, len(examples)) + examples[:3]
    second = build(model, shuffled, tmp_path / "b")
    assert first.keys == second.keys == sorted(e.key for e in examples)
    assert torch.equal(first.values, second.values) and torch.equal(first.lengths, second.lengths)


def test_file_round_trips_and_lengths_match_the_batch(model, examples, tmp_path):
    built = build(model, examples, tmp_path)
    loaded = ReferenceCache.load(tmp_path, built.fingerprint.digest)
    assert loaded is not None and loaded.path == tmp_path / f"{built.fingerprint.digest}.safetensors"
    assert loaded.fingerprint == built.fingerprint and loaded.keys == built.keys and len(loaded) == len(examples)
    assert torch.equal(loaded.values, built.values) and loaded.values.dtype == torch.float32
    assert torch.equal(loaded.lengths, collate(sorted(examples, key=lambda e: e.key), PAD, SLOTS).lengths)
    assert loaded.num_slots == SLOTS and loaded.batch_size == 4 and examples[0].key in loaded


def test_lookup_follows_keys_not_positions(model, examples, tmp_path):
    cache = build(model, examples, tmp_path)
    shuffled = random.Random(3).sample(examples, len(examples))
    by_key = {e.key: cache.lookup([e.key], SLOTS)[0] for e in examples}
    assert torch.equal(cache.lookup([e.key for e in shuffled], SLOTS), torch.stack([by_key[e.key] for e in shuffled]))
    wider = cache.lookup([examples[0].key], SLOTS + 2)
    assert wider.shape == (1, SLOTS + 2) and torch.equal(wider[0, SLOTS:], torch.zeros(2))


def test_lookup_of_a_missing_key_names_it_and_the_cache(model, examples, tmp_path):
    cache = build(model, examples, tmp_path)
    with pytest.raises(KeyError, match=f"not-there.*{cache.path.name}"):
        cache.lookup([examples[0].key, "not-there"], SLOTS)


def test_lookup_refuses_to_drop_responses(model, examples, tmp_path):
    cache = build(model, examples, tmp_path)
    four = next(e for e in examples if len(e.response_ids) == 4)
    with pytest.raises(ValueError, match="more than 3 responses"):
        cache.lookup([four.key], 3)


def test_build_rejects_examples_or_dtype_other_than_the_fingerprint(model, examples, tmp_path):
    fingerprint = fingerprint_for(examples)
    with pytest.raises(ValueError, match="dataset"):
        build_reference_cache(model, job_for(examples[1:], tmp_path, fingerprint))
    with pytest.raises(ValueError, match="bfloat16"):
        build_reference_cache(model, job_for(examples, tmp_path, fingerprint_for(examples, "bfloat16")))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-7])


def _flip_last_value_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    with safe_open(str(path), framework="pt") as handle:
        target = handle.get_tensor("values").reshape(-1)[0].numpy().tobytes()
    position = data.index(target)  # first value of the first row
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def _rewrite(path: Path, **changes) -> None:
    with safe_open(str(path), framework="pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        metadata = {**handle.metadata(), **{k: json.dumps(v) for k, v in changes.items()}}
    save_file(tensors, str(path), metadata=metadata)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_truncate, "unreadable file"),
        (_flip_last_value_byte, "checksum mismatch"),
        (lambda path: _rewrite(path, format_version=0), "format version 0"),
        (lambda path: _rewrite(path, batch_size=99), "checksum mismatch"),
    ],
    ids=["truncated", "flipped-byte", "old-format", "edited-metadata"],
)
def test_corrupt_file_warns_and_counts_as_a_miss(model, examples, tmp_path, damage, reason):
    cache = build(model, examples, tmp_path)
    damage(cache.path)
    with pytest.warns(RuntimeWarning, match=f"{cache.path.name}.*{reason}"):
        assert ReferenceCache.load(tmp_path, cache.fingerprint.digest) is None


def test_a_file_under_another_fingerprint_is_a_miss(model, examples, tmp_path):
    cache = build(model, examples, tmp_path)
    other = fingerprint_for(examples[:-1])
    os.replace(cache.path, tmp_path / f"{other.digest}.safetensors")
    with pytest.warns(RuntimeWarning, match="fingerprint"):
        assert ReferenceCache.load(tmp_path, other.digest) is None


def test_a_crash_mid_write_leaves_no_file_under_the_final_name(model, examples, tmp_path, monkeypatch):
    def crash(tensors, filename, metadata):
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(cache_file, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        build(model, examples, tmp_path)
    assert list(tmp_path.iterdir()) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ReferenceCache.load(tmp_path, fingerprint_for(examples).digest) is None


def test_get_or_build_loads_the_model_only_on_a_miss(model, examples, tmp_path):
    calls = []

    def load_model():
        calls.append(1)
        return model

    def must_not_load():
        raise AssertionError("a cache hit must not build the reference model")

    built = get_or_build(load_model, job_for(examples, tmp_path))
    reused = get_or_build(must_not_load, job_for(examples, tmp_path))
    assert calls == [1] and torch.equal(built.values, reused.values)


def test_info_describes_caches_and_clear_removes_them(model, examples, tmp_path):
    full = build(model, examples, tmp_path)
    part = build(model, examples[:5], tmp_path)
    broken = tmp_path / f"{'0' * 64}.safetensors"
    broken.write_bytes(b"garbage")
    (tmp_path / MEMO_NAME).write_text("{}")
    (tmp_path / f".{full.path.name}.abc.tmp").write_bytes(b"left over by a crash")

    entries = {entry.digest: entry for entry in cache_info(tmp_path)}
    assert set(entries) == {full.fingerprint.digest, part.fingerprint.digest, "0" * 64}
    entry = entries[full.fingerprint.digest]
    assert (entry.num_examples, entry.num_slots, entry.dtype, entry.error) == (len(examples), SLOTS, "float32", None)
    assert entry.components == full.fingerprint.components and entry.created == full.created
    assert entry.size_bytes == full.path.stat().st_size and entry.path == full.path
    assert entries["0" * 64].error and asdict(entries["0" * 64])["num_examples"] is None

    assert clear_cache(tmp_path, part.fingerprint.digest[:12]) == [part.path]
    with pytest.raises(FileNotFoundError):
        clear_cache(tmp_path, part.fingerprint.digest)
    assert len(clear_cache(tmp_path)) == 4
    assert list(tmp_path.iterdir()) == [] and cache_info(tmp_path / "absent") == []


_DISTRIBUTED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    from accelerate import Accelerator
    from transformers import LlamaForCausalLM
    from prefopt.data.batch import TokenizedExample
    from prefopt.reference import CacheJob, build_reference_cache, reference_fingerprint

    model_dir, data, cache_dir, out = sys.argv[1:5]
    accelerator = Accelerator(cpu=True)
    assert accelerator.num_processes == 2, accelerator.num_processes
    rows = json.loads(open(data).read())
    examples = [TokenizedExample(r[0], tuple(r[1]), tuple(map(tuple, r[2])), tuple(r[3])) for r in rows]
    fingerprint = reference_fingerprint(model_identity="config:tiny-llama", dtype="float32",
        tokenizer_identity="tokenizer:test", settings={"max_length": 32}, examples=examples)
    model = LlamaForCausalLM.from_pretrained(model_dir).to(accelerator.device)
    cache = build_reference_cache(model, CacheJob(examples, fingerprint, cache_dir, batch_size=3, pad_token_id=0,
        accelerator=accelerator, progress=False))
    torch.save({"keys": cache.keys, "values": cache.values}, f"{out}/rank{accelerator.process_index}.pt")
    """
)


@pytest.mark.slow
def test_two_process_build_equals_single_process_build(model, examples, tmp_path):
    model.save_pretrained(tmp_path / "model")
    data = tmp_path / "examples.json"
    data.write_text(json.dumps([[e.key, e.prompt_ids, e.response_ids, e.ranks] for e in examples]))
    script = tmp_path / "build.py"
    script.write_text(_DISTRIBUTED_SCRIPT)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    args = [str(tmp_path / "model"), str(data), str(tmp_path / "shared"), str(tmp_path)]
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))  # this checkout's prefopt
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": python_path}
    result = subprocess.run(command + args, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    single = build(LlamaForCausalLM.from_pretrained(tmp_path / "model"), examples, tmp_path / "single", batch_size=3)
    written = ReferenceCache.load(tmp_path / "shared", single.fingerprint.digest)
    assert written is not None and written.keys == single.keys
    assert torch.equal(written.values, single.values) and torch.equal(written.lengths, single.lengths)
    for rank in range(2):
        returned = torch.load(tmp_path / f"rank{rank}.pt")
        assert returned["keys"] == single.keys and torch.equal(returned["values"], single.values)
