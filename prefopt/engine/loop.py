"""The training loop on ``accelerate``: gradient accumulation, clipping, logging, evaluation, checkpoints.

:class:`Trainer` takes the parts of a run built by :func:`prefopt.run.builder.build_run` (data, policy, reference,
loss) and trains the policy, the only model in memory once the reference cache is built. Every ``log_every`` steps
the training metrics and every ``eval_every`` steps the held-out metrics go to ``metrics.jsonl``; the final model
is saved with ``save_pretrained`` next to the tokenizer, the resolved configuration and ``report.json`` (the
layout: :mod:`prefopt.run.directory`). A run resumed from a checkpoint logs and ends as an uninterrupted one would
(:mod:`prefopt.engine.resume` decides what a resume may change); a non-finite loss, gradient or weight stops it
with :class:`TrainingDiverged`, saving nothing of that state.
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType, set_seed
from tqdm.auto import tqdm

from prefopt.config import RunConfig, dump_config
from prefopt.data.batch import TokenizedExample, collate
from prefopt.engine import checkpoint
from prefopt.engine.distributed import make_accelerator
from prefopt.engine.evaluate import evaluate_held_out
from prefopt.engine.identity import run_identity
from prefopt.engine.metrics import MetricMean, MetricWindow, batch_metrics
from prefopt.engine.metrics_log import MetricsLog
from prefopt.engine.optim import build_optimizer, build_scheduler
from prefopt.engine.quiet import tied_weight_warning_silenced
from prefopt.engine.resume import ResumePoint, ResumeRefused, check_identity, config_changes, describe_changes
from prefopt.engine.step import loss_step
from prefopt.engine.stream import step_micro_batches
from prefopt.losses import NonFiniteLossError
from prefopt.model.load import ModelSource
from prefopt.plots import plotting_available, write_plots
from prefopt.run.builder import RunParts, build_run
from prefopt.run.data import Records
from prefopt.run.directory import RunDirectory
from prefopt.run.summary import settings_block
from prefopt.storage import StorageError


class TrainingDiverged(RuntimeError):
    """A non-finite loss, reward, gradient or weight after training began; nothing of that state was saved."""


@dataclass
class RunResult:
    """What a finished training run reports.

    Attributes:
        run_dir: the run directory (:class:`~prefopt.run.directory.RunDirectory` describes its files).
        model_path: the saved model, ``run_dir/final`` (loads with ``from_pretrained``).
        steps: optimizer steps trained in all.
        initial_metrics: held-out metrics before the first step.
        final_metrics: held-out metrics of the saved model: ``accuracy``, ``margin``, ``loss``, ``kendall_tau``
            (K > 2), rewards and log-probs per rank; empty without held-out examples.
        history: the training-metric lines logged by this call.
        plots: the PNG files written at its end.
    """

    run_dir: Path
    model_path: Path
    steps: int
    initial_metrics: dict[str, float]
    final_metrics: dict[str, float]
    history: list[dict] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class StepEnd:
    """What a callback of :meth:`Trainer.run` sees after each optimizer step: ``step`` steps done, the step's
    training ``metrics`` (gathered over processes) and the ``policy`` (unwrapped; in training mode again when the
    callback returns)."""

    step: int
    metrics: dict[str, float]
    policy: torch.nn.Module


OnStep = Callable[[StepEnd], None]


def total_steps(config: RunConfig, num_examples: int) -> int:
    if config.optim.max_steps is not None:
        return config.optim.max_steps
    return max(1, math.ceil(config.optim.epochs * num_examples / config.optim.batch_size))


class Trainer:
    """Holds the state of one run; :meth:`run` trains from step 0 or from the latest checkpoint.

    Used as a context manager, it calls :meth:`close` on leaving, whether the run finished or failed.
    """

    def __init__(
        self, parts: RunParts, *, resume: ResumePoint | None = None, identity: dict[str, Any] | None = None
    ) -> None:
        """``resume``: where to continue (:func:`~prefopt.engine.resume.check_resume`); ``identity``: the run's
        :func:`~prefopt.engine.identity.run_identity`, computed here when not given."""
        started = time.perf_counter()
        self.parts, config, self.accelerator, self.costs = parts, parts.config, parts.accelerator, parts.costs
        optim, world = config.optim, self.accelerator.num_processes
        self.accumulation = optim.batch_size // (optim.micro_batch_size * world)
        self.run_dir = RunDirectory(Path(config.logging.output_dir))
        self.run_dir.root.mkdir(parents=True, exist_ok=True)
        self.resume_from = resume.checkpoint if resume is not None else None
        if resume is not None:
            for line in resume.skipped:
                self.print(line)
            if self.resume_from is None:
                intact = "intact " if resume.skipped else ""
                self.print(f"no {intact}checkpoint in {self.run_dir.checkpoints_dir}; starting from step 0")
        self.identity = identity if identity is not None else run_identity(parts)
        set_seed(config.seed)
        self.costs.reference = self.reference.origin() if self.reference is not None else "none"
        model = parts.policy
        if config.model.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        self.steps = total_steps(config, len(self.splits.train))
        training = (self.steps, self.accumulation, world)
        self.print(settings_block(config, self.splits, loss=self.loss, reference=self.reference, training=training))
        optimizer = build_optimizer(model, optim)
        # the schedule counts optimizer steps of the global batch; accelerate's scheduler wrapper would step it
        # once per process, so it stays unwrapped and is only registered for checkpoints
        self.scheduler = build_scheduler(optimizer, optim, self.steps)
        self.accelerator.register_for_checkpointing(self.scheduler)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.config_yaml = dump_config(config)
        self.costs.seconds["setup"] += time.perf_counter() - started

    # the run's parts, read where they are kept (close() releases the policy and the reference there)
    config = property(lambda self: self.parts.config)
    loss = property(lambda self: self.parts.loss)
    tokenizer = property(lambda self: self.parts.tokenizer)
    splits = property(lambda self: self.parts.splits)
    source = property(lambda self: self.parts.source)
    layout = property(lambda self: self.parts.layout)
    reference = property(lambda self: self.parts.reference)

    @classmethod
    def from_config(
        cls,
        config: RunConfig,
        *,
        train: Records | None = None,
        eval: Records | None = None,
        resume: ResumePoint | None = None,
        accelerator: Accelerator | None = None,
    ) -> Trainer:
        """The Trainer of ``config`` (and records in memory, if any), its parts built by
        :func:`~prefopt.run.builder.build_run` under ``accelerator`` (else a fresh one).

        Raises:
            ResumeRefused: resuming, the data, tokenizer, model or loss differ from those the run began on (checked
                before the reference is built), and ``resume.allow_changed_data`` is not set.
        """
        identity = {}

        def check(parts: RunParts) -> None:
            identity.update(run_identity(parts))
            if resume is not None and resume.checkpoint is not None:
                if note := check_identity(resume, identity):
                    parts.accelerator.print(note)

        accelerator = accelerator or make_accelerator(config.optim.mixed_precision)
        parts = build_run(config, accelerator, train=train, eval=eval, prepared=check)
        return cls(parts, resume=resume, identity=identity)

    def print(self, message: str) -> None:
        self.accelerator.print(message)

    def _collate(self, examples: list[TokenizedExample]):
        return collate(examples, self.tokenizer.pad_token_id).to(self.accelerator.device)

    def evaluate(self) -> dict[str, float]:
        """Held-out metrics, averaged over prompts and over processes."""
        with self.costs.phase("evaluation"):
            return evaluate_held_out(self.parts, self.model)

    # training ----------------------------------------------------------------------------------------
    def train_step(self, step: int) -> dict[str, float]:
        """One optimizer step over ``accumulation`` micro-batches; returns the step's training metrics.

        The micro-batches' metrics and token counts stay on the device (:func:`~prefopt.engine.metrics.batch_metrics`);
        the step reads them to the host once, with the gradient norm its divergence check needs."""
        optim = self.config.optim
        micro_batches = step_micro_batches(
            len(self.splits.train),
            self.config.seed,
            step,
            optim.batch_size,
            optim.micro_batch_size,
            self.accelerator.process_index,
            self.accelerator.num_processes,
        )
        mean = MetricMean()
        tokens = torch.zeros((), dtype=torch.long, device=self.accelerator.device)
        for j, indices in enumerate(micro_batches):
            batch = self._collate([self.splits.train[i] for i in indices])
            # each valid slot processes its prompt and its response
            tokens += (batch.prompt_mask.sum(1) * batch.valid.sum(1)).sum() + batch.response_mask.sum()
            last = j == len(micro_batches) - 1
            context = self.accelerator.no_sync(self.model) if not last else contextlib.nullcontext()
            with context:
                with self.accelerator.autocast():
                    scores, out = loss_step(self.model, batch, self.layout, self.loss, self.reference)
                self.accelerator.backward(out.loss / self.accumulation)
            mean.add(batch_metrics(scores, out, self.loss.declarations), weight=len(indices))
        # the norm before clipping (no max_grad_norm: an infinite maximum leaves the gradients as they are); under
        # fp16 the loss scaler skips an overflowing step itself and lowers its scale
        norm = self.accelerator.clip_grad_norm_(self.model.parameters(), optim.max_grad_norm or math.inf)
        if norm is not None and not math.isfinite(float(norm)) and self.accelerator.scaler is None:
            raise self._diverged(step + 1, f"the gradient norm is {float(norm)} while the loss was finite")
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        metrics = mean.gathered_means(self.accelerator)
        metrics["lr"] = self.scheduler.get_last_lr()[0]
        metrics["tokens"] = int(self.accelerator.reduce(tokens, "sum"))
        if optim.max_grad_norm is not None and norm is not None:
            metrics["grad_norm"] = float(norm)
        return metrics

    def run(self, on_step: OnStep | None = None) -> RunResult:
        """Train from step 0, or from the checkpoint found at construction (``resume``); evaluate; save ``final/``.

        ``on_step``, when given, is called after every optimizer step (see :class:`StepEnd`).

        Raises:
            ResumeRefused: the configuration differs from the checkpoint's in a setting a resumed run cannot change.
            NonFiniteLossError: the loss returned non-finite values before any optimizer step (a broken loss).
            TrainingDiverged: a non-finite loss, reward, gradient or weight after that; nothing of it is saved.
            StorageError: a checkpoint, ``final/`` or ``metrics.jsonl`` could not be written (a full disk, no
                permission); its temporary files are removed and the message says which checkpoint is kept.
        """
        try:
            return self._train(on_step)
        except StorageError as error:
            raise StorageError(f"{error}; {self._kept()}") from None

    def _train(self, on_step: OnStep | None) -> RunResult:
        logging = self.config.logging
        changes, state = {}, {"step": 0}
        if self.resume_from:
            changes = config_changes(checkpoint.saved_config(self.resume_from), self.config, self.resume_from)
            state = checkpoint.load_checkpoint(self.accelerator, self.resume_from)
            self.print(f"resumed from {self.resume_from} at step {state['step']}")
        start = state["step"]
        if start > self.steps:
            raise ResumeRefused(
                f"cannot resume from {self.resume_from}: it is at step {start}, past the {self.steps} steps configured "
                f"(optim.max_steps or optim.epochs may grow on resume, not shrink below the checkpoint)"
            )
        main = self.accelerator.is_main_process
        log = MetricsLog(
            self.run_dir.metrics_file,
            main,
            state.get("metrics_lines"),
            self.run_dir.tensorboard_dir if logging.tensorboard else None,
        )
        if changes:
            log.write_changes(start, changes)
            self.print(describe_changes(start, changes))
        if start == 0:
            initial = self.evaluate()  # the loss's first batches: a broken loss stops here
            log.write(0, "eval", initial)
        else:  # a resumed run reports its true starting point, as logged (on the main process) before the break
            initial = log.logged(0, "eval") or {}
        self.model.train()
        window = MetricWindow(state.get("window"))
        history = []
        bar = tqdm(total=self.steps, initial=start, disable=not (main and logging.progress), desc="training")
        for step in range(start, self.steps):
            try:
                with self.costs.phase("training"):
                    metrics = self.train_step(step)
            except NonFiniteLossError as error:
                if step == 0:  # on the untrained weights a non-finite output is the loss's own fault
                    raise
                raise self._diverged(step + 1, str(error)) from None
            self.costs.training_tokens += metrics["tokens"]
            window.add(metrics, metrics.pop("tokens"))
            done = step + 1
            bar.update(1)
            if done % logging.log_every == 0 or done == self.steps:
                logged = window.line()
                log.write(done, "train", logged)
                history.append({"step": done, **logged})
                bar.set_postfix(loss=f"{logged['loss']:.4f}", acc=f"{logged['accuracy']:.2f}")
                window = MetricWindow()
            if on_step is not None:
                on_step(StepEnd(done, metrics, self.accelerator.unwrap_model(self.model)))
                self.model.train()
            if logging.eval_every and done % logging.eval_every == 0 and done != self.steps:
                log.write(done, "eval", self._evaluate_trained(done))
            # the last step too, so that a run killed in its final save, or resumed for more steps, restarts there
            if logging.save_every and (done % logging.save_every == 0 or done == self.steps):
                self._check_weights(done)
                loop_state = {"metrics_lines": log.lines, "window": window.state()}
                policy = self.accelerator.unwrap_model(self.model)
                with self.costs.phase("checkpoints"), tied_weight_warning_silenced(policy):
                    checkpoint.save_checkpoint(
                        self.accelerator,
                        self.run_dir,
                        done,
                        self.config_yaml,
                        loop_state,
                        self.identity,
                        logging.keep_checkpoints,
                    )
        bar.close()
        final = self._evaluate_trained(self.steps)
        log.write(self.steps, "eval", final)
        self._check_weights(self.steps)
        self.save_final(initial, final)
        plots = []
        if main and (logging.plots is True or (logging.plots == "auto" and plotting_available())):
            plots = write_plots([self.run_dir.root], self.run_dir.plots_dir)
        return RunResult(self.run_dir.root, self.run_dir.final_dir, self.steps, initial, final, history, plots)

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _evaluate_trained(self, step: int) -> dict[str, float]:
        """Held-out metrics after ``step`` >= 1 optimizer steps; a non-finite loss output means divergence."""
        try:
            return self.evaluate()
        except NonFiniteLossError as error:
            raise self._diverged(step, f"held-out evaluation: {error}") from None

    def _check_weights(self, step: int) -> None:
        """Refuse to save weights that are not all finite."""
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            raise self._diverged(step, "the weights are no longer finite")

    def _diverged(self, step: int, what: str) -> TrainingDiverged:
        return TrainingDiverged(
            f"training diverged at step {step} of {self.steps}: {what}. Stopped without saving this state "
            f"(no checkpoint, no final model); {self._kept()}"
        )

    def _kept(self) -> str:
        last = self.run_dir.latest_checkpoint()
        return f"the last checkpoint, {last}, is kept" if last else "no checkpoint had been written"

    def close(self) -> None:
        """Release the model and optimizer, then the process group of a multi-process run. The wrapped model
        must go first: a DDP model whose process group is already gone can hang or abort at exit."""
        self.accelerator.free_memory()  # accelerate's own references to the prepared model and optimizer
        self.model = self.optimizer = self.parts.policy = self.parts.reference = None
        gc.collect()
        self.accelerator.end_training()

    def save_final(self, initial: dict[str, float], final: dict[str, float]) -> None:
        """``save_pretrained`` (safetensors), tokenizer, resolved config and the report, written atomically."""
        self.accelerator.wait_for_everyone()
        weights = self._gathered_weights()
        if not self.accelerator.is_main_process:
            return
        model = self.accelerator.unwrap_model(self.model)
        if self.config.model.lora is not None:
            model = model.merge_and_unload()

        def save_model(directory: Path) -> None:
            model.save_pretrained(directory, safe_serialization=True, state_dict=weights)
            self.tokenizer.save_pretrained(directory)

        report = {
            "steps": self.steps,
            "initial_eval": initial,
            "final_eval": final,
            "model": model_record(self.config, self.source),
            "costs": self.costs.report(self.accelerator.device),
        }
        self.run_dir.write_final(save_model, self.config_yaml, report)

    def _gathered_weights(self) -> dict[str, torch.Tensor] | None:
        """Under FSDP the full weights, gathered by every process onto the main one's CPU (empty elsewhere); else
        ``None``: ``save_pretrained`` then reads the unwrapped model's own. Names of one tied parameter (an output
        head sharing the input embedding) get one tensor, which ``save_pretrained`` writes once, as unsharded."""
        if self.accelerator.distributed_type != DistributedType.FSDP:
            return None
        weights = self.accelerator.get_state_dict(self.model)
        first_name: dict[int, str] = {}
        for name, parameter in self.model.state_dict(keep_vars=True).items():
            if name in weights:
                weights[name] = weights[first_name.setdefault(id(parameter), name)]
        return weights


def model_record(config: RunConfig, source: ModelSource) -> dict:
    """The trained model's origin in ``report.json``: a Hub id with its revision and resolved commit, a local path,
    or a preset with its seed."""
    if source.hub is not None:
        return {"path": config.model.path, "revision": source.hub.revision, "commit": source.hub.commit}
    if config.model.path is not None:
        return {"path": config.model.path}
    return {"preset": config.model.preset, "seed": config.seed}
