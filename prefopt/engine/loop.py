"""The training loop on ``accelerate``: gradient accumulation, clipping, logging, evaluation, checkpoints.

A run is ``prefopt train``: prepare the data, build (or reuse) the reference cache, then train the policy, which
is the only model in memory. Every ``log_every`` steps the training metrics and every ``eval_every`` steps the
held-out metrics go to ``metrics.jsonl`` in the output directory; the final model is saved with
``save_pretrained`` next to the tokenizer, the resolved configuration and ``report.json``. A run resumed from a
checkpoint logs and ends as an uninterrupted one would (:mod:`prefopt.engine.resume` decides what a resume may
change); a non-finite loss, gradient or weight stops it with :class:`TrainingDiverged`, saving nothing of that state.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import PartialState
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from prefopt.config import ConfigError, RunConfig, dump_config
from prefopt.data.batch import TokenizedExample, collate
from prefopt.engine import checkpoint
from prefopt.engine.costs import RunCosts, reference_origin
from prefopt.engine.distributed import make_accelerator
from prefopt.engine.evaluate import evaluate
from prefopt.engine.logprobs import set_packed_forward
from prefopt.engine.metrics import MetricMean, MetricWindow, preference_metrics
from prefopt.engine.metrics_log import MetricsLog
from prefopt.engine.models import ModelSource, load_model, load_tokenizer
from prefopt.engine.optim import build_optimizer, build_scheduler
from prefopt.engine.precision import slow_bfloat16_warning
from prefopt.engine.resume import ResumeRefused, check_resume, config_changes, describe_changes
from prefopt.engine.setup import policy_source, prepare_splits
from prefopt.engine.step import loss_step
from prefopt.engine.stream import step_micro_batches
from prefopt.engine.summary import settings_block
from prefopt.losses import NonFiniteLossError, build_loss
from prefopt.plots import PLOT_EXTRA, plotting_available, write_plots
from prefopt.reference import ReferenceLogProbs, reference_log_probs


class TrainingDiverged(RuntimeError):
    """A non-finite loss, reward, gradient or weight after training began; nothing of that state was saved."""


@dataclass
class TrainResult:
    """What a finished run reports (``history``: the training-metric lines logged by this call; ``plots``: the
    PNG files written at its end)."""

    output_dir: Path
    steps: int
    initial_eval: dict[str, float]
    final_eval: dict[str, float]
    history: list[dict] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)


def _disable_dropout(model: torch.nn.Module) -> None:
    """Dropout would make the policy differ from the reference at step 0; DPO trains without it."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def _apply_lora(model, config: RunConfig):
    from peft import LoraConfig, get_peft_model  # optional dependency: prefopt[peft]

    lora = config.model.lora
    return get_peft_model(
        model,
        LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules),
    )


def total_steps(config: RunConfig, num_examples: int) -> int:
    if config.optim.max_steps is not None:
        return config.optim.max_steps
    return max(1, math.ceil(config.optim.epochs * num_examples / config.optim.batch_size))


class Trainer:
    """Holds the state of one run; :meth:`run` trains from step 0 or from the latest checkpoint.

    Used as a context manager, it calls :meth:`close` on leaving, whether the run finished or failed.
    """

    def __init__(self, config: RunConfig, *, resume: bool = False) -> None:
        started, self.costs = time.perf_counter(), RunCosts()
        self.config = config
        if config.logging.plots is True and not plotting_available():
            raise ConfigError(f"logging.plots=true needs matplotlib: {PLOT_EXTRA} (or set logging.plots=false)")
        optim = config.optim
        self.accelerator = make_accelerator(optim.mixed_precision)
        if warning := slow_bfloat16_warning(self.accelerator.device, config.model.dtype, optim.mixed_precision):
            self.print(warning)
        world = self.accelerator.num_processes
        if optim.batch_size % (optim.micro_batch_size * world):
            raise ConfigError(
                f"optim.batch_size ({optim.batch_size}) must be a multiple of optim.micro_batch_size "
                f"({optim.micro_batch_size}) times the number of processes ({world})"
            )
        self.accumulation = optim.batch_size // (optim.micro_batch_size * world)
        self.output_dir = Path(config.logging.output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.resume_from = checkpoint.latest_checkpoint(self.output_dir) if resume else None
        if resume and self.resume_from is None:
            self.print(f"no checkpoint in {self.output_dir / 'checkpoints'}; starting from step 0")
        set_seed(config.seed)

        self.loss = build_loss(config.loss)  # first: a misspelt loss or option fails before any loading
        self.tokenizer = load_tokenizer(config.model)
        self.splits = prepare_splits(config, self.tokenizer)
        for line in self.splits.reports:
            self.print(line)

        # on the run's device before the reference pass, which it may serve
        self.source = policy_source(config, self.tokenizer)
        self.model = load_model(self.source, config.model.dtype).to(self.accelerator.device)
        _disable_dropout(self.model)
        set_packed_forward(self.model, config.model.packed_forward)
        if config.model.lora is not None:
            self.model = _apply_lora(self.model, config)
        self.reference: ReferenceLogProbs | None = None
        if self.loss.declarations.needs_reference:
            with self.costs.phase("reference"):
                self.reference = reference_log_probs(
                    config, self.tokenizer, [self.splits.train, self.splits.eval], self.model, self.accelerator
                )
        self.costs.reference = reference_origin(self.reference)
        if config.model.gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        self.steps = total_steps(config, len(self.splits.train))
        training = (self.steps, self.accumulation, world)
        self.print(settings_block(config, self.splits, loss=self.loss, reference=self.reference, training=training))
        optimizer = build_optimizer(self.model, optim)
        # the schedule counts optimizer steps of the global batch; accelerate's scheduler wrapper would step it
        # once per process, so it stays unwrapped and is only registered for checkpoints
        self.scheduler = build_scheduler(optimizer, optim, self.steps)
        self.accelerator.register_for_checkpointing(self.scheduler)
        self.model, self.optimizer = self.accelerator.prepare(self.model, optimizer)
        self.config_yaml = dump_config(config)
        self.costs.seconds["setup"] = time.perf_counter() - started - self.costs.seconds["reference"]

    def print(self, message: str) -> None:
        self.accelerator.print(message)

    def _collate(self, examples: list[TokenizedExample]):
        return collate(examples, self.tokenizer.pad_token_id).to(self.accelerator.device)

    def evaluate(self) -> dict[str, float]:
        """Held-out metrics, averaged over prompts and over processes."""
        with self.costs.phase("evaluation"):
            return evaluate(
                self.model,
                self.splits.eval,
                self.loss,
                self.reference,
                self.accelerator,
                batch_size=self.config.reference.batch_size,
                pad_token_id=self.tokenizer.pad_token_id,
            )

    # training ----------------------------------------------------------------------------------------
    def train_step(self, step: int) -> dict[str, float]:
        """One optimizer step over ``accumulation`` micro-batches; returns the step's training metrics."""
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
        tokens = 0
        for j, indices in enumerate(micro_batches):
            batch = self._collate([self.splits.train[i] for i in indices])
            # each valid slot processes its prompt and its response
            tokens += int((batch.prompt_mask.sum(1) * batch.valid.sum(1)).sum() + batch.response_mask.sum())
            last = j == len(micro_batches) - 1
            context = self.accelerator.no_sync(self.model) if not last else contextlib.nullcontext()
            with context:
                with self.accelerator.autocast():
                    scores, out = loss_step(self.model, batch, self.loss, self.reference)
                self.accelerator.backward(out.loss / self.accumulation)
            mean.add(preference_metrics(scores, out), weight=len(indices))
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
        metrics["tokens"] = int(self.accelerator.reduce(torch.tensor(tokens, device=self.accelerator.device), "sum"))
        if optim.max_grad_norm is not None and norm is not None:
            metrics["grad_norm"] = float(norm)
        return metrics

    def run(self) -> TrainResult:
        """Train from step 0, or from the checkpoint found at construction (``resume``); evaluate; save ``final/``.

        Raises:
            ResumeRefused: the configuration differs from the checkpoint's in a setting a resumed run cannot change.
            NonFiniteLossError: the loss returned non-finite values before any optimizer step (a broken loss).
            TrainingDiverged: a non-finite loss, reward, gradient or weight after that; nothing of it is saved.
        """
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
            self.output_dir / "metrics.jsonl",
            main,
            state.get("metrics_lines"),
            self.output_dir / "tensorboard" if logging.tensorboard else None,
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
            if logging.eval_every and done % logging.eval_every == 0 and done != self.steps:
                log.write(done, "eval", self._evaluate_trained(done))
            # the last step too, so that a run killed in its final save, or resumed for more steps, restarts there
            if logging.save_every and (done % logging.save_every == 0 or done == self.steps):
                self._check_weights(done)
                loop_state = {"metrics_lines": log.lines, "window": window.state()}
                with self.costs.phase("checkpoints"):
                    checkpoint.save_checkpoint(
                        self.accelerator, self.output_dir, done, self.config_yaml, loop_state, logging.keep_checkpoints
                    )
        bar.close()
        final = self._evaluate_trained(self.steps)
        log.write(self.steps, "eval", final)
        self._check_weights(self.steps)
        self.save_final(initial, final)
        plots = []
        if main and (logging.plots is True or (logging.plots == "auto" and plotting_available())):
            plots = write_plots([self.output_dir], self.output_dir / "plots")
        return TrainResult(self.output_dir, self.steps, initial, final, history, plots)

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
        last = checkpoint.latest_checkpoint(self.output_dir)
        kept = f"the last checkpoint, {last}, is kept" if last else "no checkpoint had been written"
        return TrainingDiverged(
            f"training diverged at step {step} of {self.steps}: {what}. Stopped without saving this state "
            f"(no checkpoint, no final model); {kept}"
        )

    def close(self) -> None:
        """Release the model and optimizer, then the process group of a multi-process run. The wrapped model
        must go first: a DDP model whose process group is already gone can hang or abort at exit."""
        self.accelerator.free_memory()  # accelerate's own references to the prepared model and optimizer
        self.model = self.optimizer = self.reference = None
        gc.collect()
        self.accelerator.end_training()

    def save_final(self, initial: dict[str, float], final: dict[str, float]) -> None:
        """``save_pretrained`` (safetensors), tokenizer, resolved config and the report, written atomically."""
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        model = self.accelerator.unwrap_model(self.model)
        if self.config.model.lora is not None:
            model = model.merge_and_unload()
        target = self.output_dir / "final"
        partial = self.output_dir / "final.tmp"
        _remove(partial)
        model.save_pretrained(partial, safe_serialization=True)
        self.tokenizer.save_pretrained(partial)
        (partial / "prefopt.yaml").write_text(self.config_yaml)
        report = {
            "steps": self.steps,
            "initial_eval": initial,
            "final_eval": final,
            "model": model_record(self.config, self.source),
            "costs": self.costs.report(self.accelerator.device),
        }
        (partial / "report.json").write_text(json.dumps(report, indent=2))
        _remove(target)
        partial.rename(target)


def model_record(config: RunConfig, source: ModelSource) -> dict:
    """The trained model's origin in ``report.json``: a Hub id with its revision and resolved commit, a local path,
    or a preset with its seed."""
    if source.hub is not None:
        return {"path": config.model.path, "revision": source.hub.revision, "commit": source.hub.commit}
    if config.model.path is not None:
        return {"path": config.model.path}
    return {"preset": config.model.preset, "seed": config.seed}


def _remove(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


def train(config: RunConfig, *, resume: bool = False) -> TrainResult:
    """Train the configured policy; with ``resume`` continue exactly from the latest checkpoint, or, when
    ``final/`` already holds the configured steps, report the finished run without loading or training anything."""
    report = check_resume(config) if resume else None
    if report is not None:
        output_dir = Path(config.logging.output_dir)
        PartialState().print(f"the run in {output_dir} is finished ({report['steps']} steps); nothing to do")
        return TrainResult(output_dir, report["steps"], report["initial_eval"], report["final_eval"])
    with Trainer(config, resume=resume) as trainer:
        return trainer.run()
