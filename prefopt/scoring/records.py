"""``prefopt sample`` output to scored records: every completion of a row gets its scorer's reward.

A samples row is ``{"prompt": ..., "responses": [K texts], ...}``, with an optional ``"finished": [K booleans]``
(checked); its scored record is the same row with ``"scores": [K floats]``, the ``scored`` format that the engine
reads as a K-way ranking (equal scores stay ties). Other keys, ``finished`` among them, are kept. The output is
written to a temporary name beside it and renamed when complete.
"""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from prefopt.atomic import write_jsonl
from prefopt.data.errors import MISSING_FIELD, WRONG_TYPE, PreferenceDataError
from prefopt.data.records import finished_flags
from prefopt.sampling.checks import count_empty
from prefopt.sampling.files import read_prompt_rows
from prefopt.scoring.catalogue import Scorer

CHUNK = 256  # rows scored per scorer call


def read_samples(path: Path) -> list[dict]:
    """Every row of a samples JSON Lines file, checked: a text or chat ``prompt``, a non-empty list of text
    ``responses`` and, if given, one boolean per response in ``finished``.

    Raises:
        PreferenceDataError: naming the file, the 1-based line and the field of the first bad row.
    """
    rows = []
    for number, row in read_prompt_rows(path):
        where = {"file": str(path), "row": number}
        responses = row.get("responses")
        if responses is None:
            raise PreferenceDataError("is missing", reason=MISSING_FIELD, field="responses", **where)
        if not isinstance(responses, list) or not responses:
            raise PreferenceDataError(
                "must be a non-empty list of texts", reason=WRONG_TYPE, field="responses", **where
            )
        for k, response in enumerate(responses):
            if not isinstance(response, str):
                raise PreferenceDataError("must be a text", reason=WRONG_TYPE, field=f"responses[{k}]", **where)
        try:
            finished_flags(row, len(responses))
        except PreferenceDataError as error:
            raise PreferenceDataError(error.message, reason=error.reason, field=error.field, **where) from None
        rows.append(row)
    return rows


def prompt_text(prompt: str | list) -> str:
    """The text a scorer sees of a prompt: the text itself, or the contents of its chat messages joined by lines."""
    return prompt if isinstance(prompt, str) else "\n".join(str(m.get("content", "")) for m in prompt)


def score_rows(rows: list[dict], scorer: Scorer, *, progress: bool = False) -> list[dict]:
    """``rows`` with ``"scores"``: one float per response, from ``scorer`` called on chunks of rows."""
    scored = []
    bar = tqdm(total=len(rows), disable=not progress, desc="scoring", unit="prompt")
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        prompts = [prompt_text(row["prompt"]) for row in chunk for _ in row["responses"]]
        completions = [response for row in chunk for response in row["responses"]]
        scores = iter(scorer(prompts, completions))
        scored += [{**row, "scores": [next(scores) for _ in row["responses"]]} for row in chunk]
        bar.update(len(chunk))
    bar.close()
    return scored


def scoring_warnings(scored: list[dict]) -> list[str]:
    """One line per problem of ``scored`` rows, with counts: empty responses, prompts whose scores all tie."""
    responses = [response for row in scored for response in row["responses"]]
    empty = count_empty(responses)
    tied = sum(len(set(row["scores"])) == 1 for row in scored)
    lines = []
    if empty:
        lines.append(
            f"{empty} of {len(responses)} responses are empty; prefopt train refuses a row with an empty response "
            "(data.on_error=skip skips the row)"
        )
    if tied:
        lines.append(
            f"{tied} of {len(scored)} prompts have every score tied; they carry no preference and training skips "
            "them (all_tied)"
        )
    return lines


def score_file(samples: Path, output: Path, scorer: Scorer, *, progress: bool = False) -> list[dict]:
    """Score every row of ``samples`` into ``output``; returns the scored rows."""
    rows = score_rows(read_samples(samples), scorer, progress=progress)
    write_jsonl(output, rows)
    return rows
