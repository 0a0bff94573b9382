"""``prefopt eval [CONFIG] [key=value ...]``: preference accuracy and margins of a model on a dataset."""

from __future__ import annotations

import argparse
import json

from prefopt.cli.common import add_config_arguments, config_from_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="preference accuracy and margins of model.path against model.reference_path",
        description=(
            "Evaluate model.path on every example of data.eval_path (or data.path) with the configured loss's "
            "implicit rewards; reference-based losses compare against model.reference_path."
        ),
    )
    add_config_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from prefopt.engine.distributed import make_accelerator
    from prefopt.engine.evaluate import evaluate
    from prefopt.engine.models import load_model, load_tokenizer
    from prefopt.engine.setup import policy_source, prepare_evaluation_data
    from prefopt.engine.summary import settings_block
    from prefopt.losses import build_loss
    from prefopt.reference import reference_log_probs

    config = config_from_arguments(args.items)
    loss = build_loss(config.loss)
    if loss.declarations.needs_reference and config.model.reference_path is None:
        raise SystemExit(
            f"prefopt eval: loss {loss.name!r} compares the model with a reference; set model.reference_path"
        )
    accelerator = make_accelerator()
    tokenizer = load_tokenizer(config.model)
    data = prepare_evaluation_data(config, tokenizer)
    for line in data.reports:
        accelerator.print(line)
    model = load_model(policy_source(config, tokenizer), config.model.dtype).to(accelerator.device)
    reference = None
    if loss.declarations.needs_reference:
        reference = reference_log_probs(config, tokenizer, [data.eval], model, accelerator)
    accelerator.print(settings_block(config, data, loss=loss, reference=reference))
    metrics = evaluate(
        model,
        data.eval,
        loss,
        reference,
        accelerator,
        batch_size=config.reference.batch_size,
        pad_token_id=tokenizer.pad_token_id,
    )
    if args.json:
        accelerator.print(json.dumps(metrics))
    else:
        for name, value in metrics.items():
            accelerator.print(f"{name:<28} {value:.6f}")
    accelerator.end_training()
    return 0
