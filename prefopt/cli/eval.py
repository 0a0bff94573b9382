"""``prefopt eval [CONFIG] [key=value ...]``: preference accuracy and margins of a model on a dataset."""

from __future__ import annotations

import argparse
import json

from prefopt.cli.common import add_config_arguments
from prefopt.cli.eval_config import evaluation_setup, require_reference


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="preference accuracy and margins of model.path against model.reference_path",
        description=(
            "Evaluate model.path on every example of data.eval_path (or data.path) with the configured loss's "
            "implicit rewards; reference-based losses compare against model.reference_path. A final/ directory "
            "of a prefopt run is evaluated with the settings recorded in its prefopt.yaml (under the command "
            "line's overrides) and against the reference it was trained against."
        ),
    )
    add_config_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from prefopt.engine.distributed import make_accelerator
    from prefopt.engine.evaluate import evaluate
    from prefopt.engine.logprobs import set_packed_forward
    from prefopt.engine.models import load_model, load_tokenizer
    from prefopt.engine.precision import slow_bfloat16_warning
    from prefopt.engine.setup import policy_source, prepare_evaluation_data
    from prefopt.engine.summary import settings_block
    from prefopt.losses import build_loss
    from prefopt.reference import reference_log_probs

    setup = evaluation_setup(args.items)
    config = setup.config
    loss = build_loss(config.loss)
    reference_config = require_reference(setup, loss.name) if loss.declarations.needs_reference else None
    accelerator = make_accelerator()
    if warning := slow_bfloat16_warning(accelerator.device, config.model.dtype):
        accelerator.print(warning)
    for line in setup.lines:
        accelerator.print(line)
    tokenizer = load_tokenizer(config.model)
    data = prepare_evaluation_data(config, tokenizer)
    for line in data.reports:
        accelerator.print(line)
    model = load_model(policy_source(config, tokenizer), config.model.dtype).to(accelerator.device)
    set_packed_forward(model, config.model.packed_forward)
    reference = None
    if reference_config is not None:  # never the model evaluated: the reference is loaded from its source
        reference = reference_log_probs(reference_config, tokenizer, [data.eval], None, accelerator)
    accelerator.print(settings_block(config, data, loss=loss, reference=reference, reference_config=reference_config))
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
