"""Record shapes: detect a row's shape from its keys, validate it and normalise it to a :class:`RankedExample`.

Shapes (``format``):
    pairwise: ``{prompt, chosen, rejected}``.
    ranked:   ``{prompt, responses, ranking}`` (response indices, best first) or
              ``{prompt, responses, ranks}`` (each response's rank, lower is better, equal ranks are ties).
    scored:   ``{prompt, responses, scores}`` (higher is better, equal scores are ties).
    hh:       ``{chosen, rejected}`` full dialogues (Anthropic HH-RLHF), see :mod:`prefopt.data.hh`.
Prompts and responses may be text or chat messages (:mod:`prefopt.data.content`). Ranked and scored records may
give ``finished`` (one boolean per response, as ``prefopt sample`` writes): ``false`` marks a response that was cut
before it ended, which is then encoded without EOS; a cut chat response is one assistant message. Other keys are
ignored.
Ranks and ranking indices are integers within ``±2**31`` (a float with an integral value, as columnar files may
store them, counts as that integer). Ranks are normalised to dense ranks from 0 (the best) and responses sorted
by rank, stable within ties.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from prefopt.config import RECORD_FORMATS
from prefopt.data.content import prompt_content, response_content
from prefopt.data.errors import (
    ALL_TIED,
    BAD_RANKING,
    IDENTICAL_RESPONSES,
    LENGTH_MISMATCH,
    MISSING_FIELD,
    TOO_FEW_RESPONSES,
    UNKNOWN_FORMAT,
    WRONG_TYPE,
    PreferenceDataError,
)
from prefopt.data.hh import split_dialogues
from prefopt.types import RankedExample

SHAPES = RECORD_FORMATS  # the record shapes, listed once with the setting that names them (data.format)
RANK_LIMIT = 2**31  # ranks and indices lie in [-RANK_LIMIT, RANK_LIMIT); beyond is no position but corrupt data
_ORDER_FIELDS = ("ranking", "ranks", "scores")


def detect_format(row: Mapping) -> str:
    """The shape of ``row`` from its keys; a null value counts as absent.

    (File readers give every row the union of all columns, so a file that mixes shapes has null columns.)
    """
    present = {key for key, value in row.items() if value is not None}
    if "responses" in present:
        orders = [key for key in _ORDER_FIELDS if key in present]
        if len(orders) > 1:
            raise PreferenceDataError(
                f"gives {' and '.join(orders)}; give only one way of ordering the responses",
                reason=UNKNOWN_FORMAT,
                field=orders[1],
            )
        if not orders:
            raise PreferenceDataError(
                "is missing or null (responses need a 'ranking', 'ranks' or 'scores')",
                reason=MISSING_FIELD,
                field="ranking",
            )
        return "scored" if orders[0] == "scores" else "ranked"
    if "chosen" in present or "rejected" in present:
        return "pairwise" if "prompt" in present else "hh"
    raise PreferenceDataError(
        f"cannot tell the record shape from its non-null keys {sorted(present)}; expected prompt+chosen+rejected, "
        "prompt+responses+ranking|ranks|scores, or chosen+rejected dialogues",
        reason=UNKNOWN_FORMAT,
    )


def normalise_record(row: Mapping, shape: str) -> RankedExample:
    """Validate ``row`` as a record of ``shape`` (one of ``SHAPES``) and return it as a :class:`RankedExample`.

    Raises :class:`PreferenceDataError` naming the field (not yet the file and row) for anything unusable.
    """
    return _NORMALISERS[shape](row)


def _pairwise(row: Mapping) -> RankedExample:
    prompt = prompt_content(_require(row, "prompt"), "prompt")
    chat = not isinstance(prompt, str)
    responses = [response_content(_require(row, name), name, chat=chat) for name in ("chosen", "rejected")]
    return _ranked_example(prompt, responses, [0, 1], names=["chosen", "rejected"])


def _hh(row: Mapping) -> RankedExample:
    try:
        prompt, chosen, rejected = split_dialogues(_require(row, "chosen"), _require(row, "rejected"))
    except PreferenceDataError:
        if "prompt" not in row or row["prompt"] is not None:
            raise
        # a null prompt: the row was read as HH dialogues (detection ignores nulls), and it is not one
        raise PreferenceDataError(
            "is null (and 'chosen' and 'rejected' are not HH-RLHF dialogues, which need no prompt)",
            reason=MISSING_FIELD,
            field="prompt",
        ) from None
    return _pairwise({"prompt": prompt, "chosen": chosen, "rejected": rejected})


def _ranked(row: Mapping) -> RankedExample:
    prompt, responses, finished = _prompt_and_responses(row)
    given = [field for field in ("ranking", "ranks") if row.get(field) is not None]
    if not given:
        raise PreferenceDataError(
            "is missing or null (a ranked record gives 'ranking' or 'ranks')", reason=MISSING_FIELD, field="ranking"
        )
    if len(given) > 1:
        raise PreferenceDataError(
            "gives ranking and ranks; give only one of them", reason=UNKNOWN_FORMAT, field="ranks"
        )
    if given[0] == "ranks":
        ranks = _dense(_int_list(row, "ranks", len(responses)), field="ranks")
        return _ranked_example(prompt, responses, ranks, finished=finished)
    ranking = _int_list(row, "ranking", len(responses))
    if sorted(ranking) != list(range(len(responses))):
        raise PreferenceDataError(
            f"must be a permutation of the response indices 0..{len(responses) - 1}; got {ranking}",
            reason=BAD_RANKING,
            field="ranking",
        )
    ranks = [0] * len(responses)
    for position, index in enumerate(ranking):
        ranks[index] = position
    return _ranked_example(prompt, responses, ranks, finished=finished)


def _scored(row: Mapping) -> RankedExample:
    prompt, responses, finished = _prompt_and_responses(row)
    scores = _list(row, "scores", len(responses))
    for i, score in enumerate(scores):
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            raise PreferenceDataError(
                f"must be a finite number; got {score!r}", reason=WRONG_TYPE, field=f"scores[{i}]"
            )
    return _ranked_example(prompt, responses, _dense([-score for score in scores], field="scores"), finished=finished)


def finished_flags(row: Mapping, length: int) -> tuple[bool, ...] | None:
    """The row's optional ``finished``: one boolean per response (``length`` of them), or ``None`` when absent."""
    if row.get("finished") is None:
        return None
    flags = _list(row, "finished", length)
    for i, flag in enumerate(flags):
        if not isinstance(flag, bool):
            raise PreferenceDataError(f"must be true or false; got {flag!r}", reason=WRONG_TYPE, field=f"finished[{i}]")
    return tuple(flags)


def _prompt_and_responses(row: Mapping) -> tuple[str | tuple, list, tuple[bool, ...] | None]:
    prompt = prompt_content(_require(row, "prompt"), "prompt")
    raw = _require(row, "responses")
    if not isinstance(raw, list | tuple):
        raise PreferenceDataError(f"expected a list; got {type(raw).__name__}", reason=WRONG_TYPE, field="responses")
    if len(raw) < 2:
        raise PreferenceDataError(
            f"has {len(raw)} response(s); a preference needs at least 2", reason=TOO_FEW_RESPONSES, field="responses"
        )
    chat = not isinstance(prompt, str)
    responses = [response_content(value, f"responses[{i}]", chat=chat) for i, value in enumerate(raw)]
    finished = finished_flags(row, len(responses))
    for k, response in enumerate(responses):
        if chat and finished is not None and not finished[k] and not _one_assistant_message(response):
            raise PreferenceDataError(
                "is cut (finished is false), so it must be the text sampled after the prompt: one assistant message",
                reason=WRONG_TYPE,
                field=f"responses[{k}]",
            )
    return prompt, responses, finished


def _one_assistant_message(response: tuple[dict, ...]) -> bool:
    return len(response) == 1 and response[0]["role"] == "assistant"


def _require(row: Mapping, field: str) -> object:
    value = row.get(field)
    if value is None:
        raise PreferenceDataError("is null" if field in row else "is missing", reason=MISSING_FIELD, field=field)
    return value


def _list(row: Mapping, field: str, length: int) -> list:
    value = _require(row, field)
    if not isinstance(value, list | tuple):
        raise PreferenceDataError(f"expected a list; got {type(value).__name__}", reason=WRONG_TYPE, field=field)
    if len(value) != length:
        raise PreferenceDataError(
            f"has {len(value)} entries for {length} responses", reason=LENGTH_MISMATCH, field=field
        )
    return list(value)


def _int_list(row: Mapping, field: str, length: int) -> list[int]:
    return [_integer(value, f"{field}[{i}]") for i, value in enumerate(_list(row, field, length))]


def _integer(value: object, field: str) -> int:
    """A rank or index: an int, or a float with an integral value, in ``[-RANK_LIMIT, RANK_LIMIT)``."""
    number = int(value) if isinstance(value, float) and value.is_integer() else value  # not nan, not inf
    if isinstance(number, bool) or not isinstance(number, int):
        raise PreferenceDataError(f"must be an integer; got {value!r}", reason=WRONG_TYPE, field=field)
    if not -RANK_LIMIT <= number < RANK_LIMIT:
        raise PreferenceDataError(f"must lie in [-2**31, 2**31); got {value!r}", reason=BAD_RANKING, field=field)
    return number


def _dense(keys: list, *, field: str) -> list[int]:
    """Dense ranks from 0 of sort ``keys`` (lower is better); equal keys share a rank."""
    distinct = sorted(set(keys))
    if len(distinct) == 1:
        raise PreferenceDataError("ties every response, so there is no preference", reason=ALL_TIED, field=field)
    position = {key: rank for rank, key in enumerate(distinct)}
    return [position[key] for key in keys]


def _ranked_example(
    prompt: str | tuple,
    responses: list,
    ranks: list[int],
    names: list[str] | None = None,
    finished: tuple[bool, ...] | None = None,
) -> RankedExample:
    names = names or [f"responses[{i}]" for i in range(len(responses))]
    ends = finished or (True,) * len(responses)  # a cut copy of a finished response is another token sequence
    for j in range(len(responses)):
        for i in range(j):
            if responses[i] == responses[j] and ends[i] == ends[j]:
                raise PreferenceDataError(
                    f"is identical to '{names[i]}' (identical responses carry no preference)",
                    reason=IDENTICAL_RESPONSES,
                    field=names[j],
                )
    order = sorted(range(len(responses)), key=ranks.__getitem__)
    return RankedExample(
        prompt=prompt,
        responses=tuple(responses[i] for i in order),
        ranks=tuple(ranks[i] for i in order),
        finished=None if finished is None else tuple(finished[i] for i in order),
    )


_NORMALISERS: dict[str, Callable[[Mapping], RankedExample]] = {
    "pairwise": _pairwise,
    "ranked": _ranked,
    "scored": _scored,
    "hh": _hh,
}
