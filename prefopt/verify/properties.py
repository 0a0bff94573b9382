"""The properties of THEORY.md section 8, each a check that any loss can be put through.

A property applies to a loss according to its :class:`~prefopt.losses.Declarations` (``trigger``) and
either holds or raises :class:`Violation`. Hypothesis-based checks draw inputs from :mod:`prefopt.verify.cases`;
a failure is shrunk to hypothesis's smallest failing example. Exact comparisons run in float64.

Notation: h = log pi_theta - log pi_ref (log pi_theta alone for reference-free losses), w the best response of a
pair and l the other, beta the loss's ``beta`` option.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from prefopt.losses import Loss, get_loss, registry
from prefopt.verify.bandit import check_tabular_optimum
from prefopt.verify.cases import Case, Row, cases, shift_row

EXACT_MAGNITUDE = 100.0  # log-prob range for comparisons against formulas (float64)
EXTREME_MAGNITUDE = 1e4  # log-ratio range of the stability checks (THEORY.md 8.6)
REFERENCE_PROBES = 16


class Violation(AssertionError):
    """A property does not hold; the message says what was observed."""


@dataclass(frozen=True)
class Budget:
    """How hard hypothesis searches: examples per property and the seed that makes runs repeatable."""

    max_examples: int = 50
    seed: int = 0


@dataclass(frozen=True)
class Property:
    """One checkable statement.

    Attributes:
        name: short identifier (``shift_policy``).
        statement: what is checked and where the theory says so.
        trigger: the declaration that makes the property apply (``"all"`` for every loss).
        skip: returns why the property does not apply to a loss, or None when it applies.
        check: raises :class:`Violation` (or any exception) when the property fails.
    """

    name: str
    statement: str
    trigger: str
    skip: Callable[[Loss], str | None]
    check: Callable[[Loss, Budget], None]


# helpers ----------------------------------------------------------------------------------------------


class Counterexample(AssertionError):
    """A property failed; the message says how and gives hypothesis's smallest failing example."""


def holds(strategy: st.SearchStrategy, test: Callable[[object], None], budget: Budget) -> None:
    """Run ``test`` on examples of ``strategy``; a failure raises :class:`Counterexample` with the smallest example."""
    failing: list[object] = []

    @seed(budget.seed)
    @settings(
        max_examples=budget.max_examples,
        deadline=None,
        database=None,
        print_blob=False,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],  # no "explain"
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def property_test(example: object) -> None:
        try:
            test(example)
        except Exception:
            failing.append(example)
            raise

    try:
        property_test()
    except Exception as error:  # hypothesis replays the shrunk example last, so failing[-1] is the smallest
        if not failing:
            raise
        what = str(error) if isinstance(error, AssertionError) else f"{type(error).__name__}: {error}"
        raise Counterexample(f"{what}\nsmallest counterexample: {failing[-1]!r}") from error


def loss_value(loss: Loss, case: Case, **scores_kwargs) -> float:
    scores, _ = case.scores(**scores_kwargs)
    return float(loss(scores).loss)


def close(actual: float, expected: float, tolerance: float = 1e-7) -> bool:
    return abs(actual - expected) <= tolerance * (1.0 + abs(expected))


def expect_close(actual: float, expected: float, what: str) -> None:
    if not close(actual, expected):
        raise Violation(f"{what}: got {actual!r}, expected {expected!r}")


def beta_of(loss: Loss) -> float:
    beta = getattr(loss.options, "beta", None)
    if beta is None:
        raise Violation(f"loss {loss.name!r} declares bradley_terry but has no option 'beta'")
    return float(beta)


def exact_cases(loss: Loss, **kwargs) -> st.SearchStrategy[Case]:
    return cases(loss.declarations, magnitude=EXACT_MAGNITUDE, **kwargs)


def _applies_to_all(_loss: Loss) -> None:
    return None


def _needs(flag: str) -> Callable[[Loss], str | None]:
    def skip(loss: Loss) -> str | None:
        return None if getattr(loss.declarations, flag) else f"the loss does not declare {flag}"

    return skip


# all losses --------------------------------------------------------------------------------------------


def _finite(dtype: torch.dtype) -> Callable[[Loss, Budget], None]:
    def check(loss: Loss, budget: Budget) -> None:
        def test(case: Case) -> None:
            scores, leaf = case.scores(dtype, grad=True)
            value = loss(scores).loss
            if not torch.isfinite(value):
                raise Violation(f"loss is {float(value.detach())} in {dtype}")
            value.backward()
            if not torch.isfinite(leaf.grad).all():
                raise Violation(f"gradient w.r.t. the policy log-probs is not finite in {dtype}: {leaf.grad.tolist()}")

        holds(cases(loss.declarations, magnitude=EXTREME_MAGNITUDE), test, budget)

    return check


def _skip_batch_mean(loss: Loss) -> str | None:
    return None if loss.declarations.per_prompt else "the loss couples the prompts of a batch (per_prompt False)"


def check_batch_mean(loss: Loss, budget: Budget) -> None:
    def test(case: Case) -> None:
        per_example = [loss_value(loss, case.select([b])) for b in range(case.batch_size)]
        mean = math.fsum(per_example) / len(per_example)
        expect_close(loss_value(loss, case), mean, "loss of the (padded, ragged) batch vs mean of its prompts alone")

    holds(exact_cases(loss, batch=(2, 4), ragged=True), test, budget)


def check_batch_order(loss: Loss, budget: Budget) -> None:
    def test(example: tuple[Case, list[int]]) -> None:
        case, order = example
        expect_close(loss_value(loss, case.select(order)), loss_value(loss, case), f"loss after reordering by {order}")

    strategy = exact_cases(loss, batch=(2, 4), ragged=True).flatmap(
        lambda case: st.tuples(st.just(case), st.permutations(list(range(case.batch_size))))
    )
    holds(strategy, test, budget)


def check_padding(loss: Loss, budget: Budget) -> None:
    def test(example: tuple[Case, int, float]) -> None:
        case, extra, pad_value = example
        scores, leaf = case.scores(extra_slots=extra, pad_value=pad_value, grad=True)
        value = loss(scores).loss
        expected = loss_value(loss, case)
        expect_close(float(value.detach()), expected, f"loss with {extra} extra padding slots holding {pad_value}")
        value.backward()
        if not torch.isfinite(leaf.grad).all():
            raise Violation(f"padding makes the gradient non-finite: {leaf.grad.tolist()}")
        pad_grad = leaf.grad[~scores.valid].flatten()
        if pad_grad.abs().sum() > 0:
            raise Violation(f"padding slots receive gradient {pad_grad.tolist()}")

    strategy = st.tuples(
        exact_cases(loss, batch=(1, 3), ragged=True),
        st.integers(1, 2),
        st.floats(-EXACT_MAGNITUDE, 0.0),
    )
    holds(strategy, test, budget)


# reference and reward differences ----------------------------------------------------------------------


def check_reference_used(loss: Loss, budget: Budget) -> None:
    """Deterministic probes: moving the reference log-probs of random batches must change the loss of at least
    one of them (a loss that only saturates or clips on some inputs still moves on the others)."""
    generator = torch.Generator().manual_seed(budget.seed)
    for _ in range(REFERENCE_PROBES):
        case = _probe_case(loss, generator)
        moved = case.map_rows(
            lambda row: replace(
                row, reference=tuple(r - float(torch.rand(1, generator=generator)) for r in row.reference)
            )
        )
        if not close(loss_value(loss, moved), loss_value(loss, case), 1e-9):
            return
    raise Violation(
        f"declares needs_reference, yet moving pi_ref changed the loss on none of {REFERENCE_PROBES} batches"
    )


def _probe_case(loss: Loss, generator: torch.Generator) -> Case:
    """A batch of 4 prompts, K = 2 (pairwise) or 3 (listwise), log-probs in [-3, 0]."""
    slots = 3 if loss.declarations.listwise else 2

    def draw(size: int) -> tuple[float, ...]:
        return tuple((-3.0 * torch.rand(size, generator=generator, dtype=torch.float64)).tolist())

    rows = []
    for _ in range(4):
        lengths = tuple(int(n) for n in torch.randint(1, 4, (slots,), generator=generator))
        tokens = tuple(draw(n) for n in lengths) if loss.declarations.needs_token_logps else None
        policy = tuple(math.fsum(t) for t in tokens) if tokens else draw(slots)
        rows.append(Row(policy=policy, reference=draw(slots), lengths=lengths, tokens=tokens))
    return Case(tuple(rows))


def _check_shift(target: str) -> Callable[[Loss, Budget], None]:
    def check(loss: Loss, budget: Budget) -> None:
        def test(example: tuple[Case, list[float]]) -> None:
            case, shifts = example

            def move(index_row):
                index, row = index_row
                f = shifts[index]
                return shift_row(row, f if target == "policy" else 0.0, f if target == "reference" else 0.0)

            moved = Case(tuple(move(item) for item in enumerate(case.rows)))
            expect_close(
                loss_value(loss, moved), loss_value(loss, case), f"loss after adding f(x)={shifts} to {target}"
            )

        # shifts are <= 0 so that shifted log-probs stay log-probs
        strategy = st.tuples(exact_cases(loss), st.lists(st.floats(-10.0, 0.0), min_size=3, max_size=3))
        holds(strategy, test, budget)

    return check


def _skip_shift_policy(loss: Loss) -> str | None:
    if not loss.declarations.reward_difference:
        return "the loss does not declare reward_difference"
    if loss.declarations.needs_token_logps:
        return "token-level policy log-probs cannot be shifted per prompt consistently"
    return None


def _skip_shift_reference(loss: Loss) -> str | None:
    if not loss.declarations.reward_difference:
        return "the loss does not declare reward_difference"
    return None if loss.declarations.needs_reference else "the loss is reference-free"


# monotonicity ------------------------------------------------------------------------------------------


def check_monotone(loss: Loss, budget: Budget) -> None:
    def test(example: tuple[Case, float]) -> None:
        case, fraction = example

        def raise_best(row: Row) -> Row:
            scale = 1.0 - fraction  # moving a log-prob toward 0 raises it and keeps it <= 0
            if row.tokens is None:
                return replace(row, policy=(row.policy[0] * scale, *row.policy[1:]))
            best = tuple(t * scale for t in row.tokens[0])
            return replace(row, policy=(math.fsum(best), *row.policy[1:]), tokens=(best, *row.tokens[1:]))

        before, after = loss_value(loss, case), loss_value(loss, case.map_rows(raise_best))
        if after > before + 1e-9 * (1.0 + abs(before)):
            raise Violation(f"raising the best response's log-prob raised the loss from {before!r} to {after!r}")

    holds(st.tuples(exact_cases(loss), st.floats(0.0, 1.0)), test, budget)


# Bradley-Terry ------------------------------------------------------------------------------------------


def _skip_bradley_terry(loss: Loss) -> str | None:
    if not loss.declarations.bradley_terry:
        return "the loss does not declare bradley_terry"
    if loss.declarations.needs_token_logps:
        return "the Bradley-Terry identities are stated for sequence log-probs; this loss reads token log-probs"
    return None


def check_bradley_terry_value(loss: Loss, budget: Budget) -> None:
    beta = beta_of(loss)

    def test(case: Case) -> None:
        scores, _ = case.scores()
        h = scores.log_ratio()
        expected = -F.logsigmoid(beta * (h[:, 0] - h[:, 1])).mean()
        expect_close(float(loss(scores).loss), float(expected), "loss vs -log sigma(beta*(h_w - h_l))")

    holds(exact_cases(loss, slots=(2, 2)), test, budget)


def check_bradley_terry_gradient(loss: Loss, budget: Budget) -> None:
    beta = beta_of(loss)

    def test(case: Case) -> None:
        scores, leaf = case.scores(grad=True)
        (loss(scores).loss * case.batch_size).backward()  # per-example derivatives of the mean
        h = scores.log_ratio().detach()
        weight = torch.sigmoid(beta * h[:, 1] - beta * h[:, 0])  # (B,) w = sigma(beta h_l - beta h_w)
        expected = torch.stack([-beta * weight, beta * weight], dim=1)
        if not torch.allclose(leaf.grad, expected, rtol=1e-6, atol=1e-9):
            raise Violation(
                f"d loss / d (policy_w, policy_l) = {leaf.grad.tolist()}, App. A.4 gives {expected.tolist()}"
            )

    holds(exact_cases(loss, slots=(2, 2)), test, budget)


def check_uniform_policy(loss: Loss, budget: Budget) -> None:
    listwise = loss.declarations.listwise

    def test(case: Case) -> None:
        def zero_ratio(row: Row) -> Row:  # pi_theta = pi_ref, or equal log-probs without a reference
            if row.reference is not None:
                return replace(row, policy=row.reference)
            return replace(row, policy=(row.policy[0],) * row.num_slots)

        at_reference = case.map_rows(zero_ratio)
        slots = case.rows[0].num_slots
        expected = math.lgamma(slots + 1) if listwise else math.log(2.0)
        expect_close(loss_value(loss, at_reference), expected, f"loss at h = 0 with K={slots}")

    holds(exact_cases(loss, slots=(2, 6) if listwise else (2, 2)), test, budget)


def _skip_k2_equals_dpo(loss: Loss) -> str | None:
    if not loss.declarations.listwise:
        return "the loss is pairwise"
    return _skip_bradley_terry(loss) or (None if "dpo" in registry.names() else "dpo is not registered")


def check_k2_equals_dpo(loss: Loss, budget: Budget) -> None:
    dpo = get_loss("dpo", beta=beta_of(loss), reference_free=not loss.declarations.needs_reference)

    def test(case: Case) -> None:
        expect_close(loss_value(loss, case), loss_value(dpo, case), "listwise loss vs dpo at K=2")

    holds(exact_cases(loss, slots=(2, 2)), test, budget)


def check_tabular(loss: Loss, budget: Budget) -> None:
    beta_of(loss)  # the bandit sets the loss's beta
    result = check_tabular_optimum(loss, seed=budget.seed)
    if not result.passed:
        raise Violation(str(result))


PROPERTIES: dict[str, Property] = {
    p.name: p
    for p in [
        Property(
            "finite_float32",
            "finite loss and gradients for |log-ratio| up to 1e4 in float32 (8.6)",
            "all",
            _applies_to_all,
            _finite(torch.float32),
        ),
        Property(
            "finite_bfloat16",
            "finite loss and gradients for |log-ratio| up to 1e4 in bfloat16 (8.6)",
            "all",
            _applies_to_all,
            _finite(torch.bfloat16),
        ),
        Property(
            "batch_mean",
            "the loss of a batch is the mean of its prompts' losses (8.7)",
            "per_prompt",
            _skip_batch_mean,
            check_batch_mean,
        ),
        Property(
            "batch_order",
            "the loss does not depend on the order of the prompts in a batch (8.7)",
            "all",
            _applies_to_all,
            check_batch_order,
        ),
        Property(
            "k_padding",
            "padding slots (valid False) change neither the loss nor the gradients (8.7)",
            "all",
            _applies_to_all,
            check_padding,
        ),
        Property(
            "reference_used",
            "a loss that declares needs_reference does depend on pi_ref",
            "needs_reference",
            _needs("needs_reference"),
            check_reference_used,
        ),
        Property(
            "shift_policy",
            "adding f(x) to a prompt's policy log-probs changes nothing (Lemma 1, 8.3)",
            "reward_difference",
            _skip_shift_policy,
            _check_shift("policy"),
        ),
        Property(
            "shift_reference",
            "adding f(x) to a prompt's reference log-probs changes nothing (Lemma 1, 8.3)",
            "reward_difference",
            _skip_shift_reference,
            _check_shift("reference"),
        ),
        Property(
            "monotone",
            "raising the best response's log-prob never raises the loss (8.5)",
            "monotone",
            _needs("monotone"),
            check_monotone,
        ),
        Property(
            "bradley_terry_value",
            "at K=2 the loss is -log sigma(beta*(h_w - h_l)) (eq. 7, 8.1)",
            "bradley_terry",
            _skip_bradley_terry,
            check_bradley_terry_value,
        ),
        Property(
            "bradley_terry_gradient",
            "d loss/d log pi(y_w) = -beta*w, d/d log pi(y_l) = +beta*w (App. A.4)",
            "bradley_terry",
            _skip_bradley_terry,
            check_bradley_terry_gradient,
        ),
        Property(
            "uniform_policy",
            "at pi_theta = pi_ref the loss is log 2 (pairs) or log K! (listwise) (8.4)",
            "bradley_terry",
            _skip_bradley_terry,
            check_uniform_policy,
        ),
        Property(
            "k2_equals_dpo",
            "a listwise Bradley-Terry loss at K=2 equals dpo with the same beta (8.2)",
            "listwise + bradley_terry",
            _skip_k2_equals_dpo,
            check_k2_equals_dpo,
        ),
        Property(
            "tabular_optimum",
            "on a bandit, minimising the loss gives pi_ref*exp(r*/beta)/Z (Thm 1, 8.8)",
            "bradley_terry",
            _skip_bradley_terry,
            check_tabular,
        ),
    ]
}
