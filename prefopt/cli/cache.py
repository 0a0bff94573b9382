"""``prefopt cache build|info|clear``: the reference log-prob caches."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prefopt.cli.common import add_config_arguments, config_from_arguments
from prefopt.config import ReferenceConfig

DEFAULT_DIR = ReferenceConfig().cache_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cache", help="build, list or delete reference log-prob caches")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    build = actions.add_parser("build", help="compute the reference cache a run's configuration needs")
    add_config_arguments(build)
    build.set_defaults(handler=build_cache)

    info = actions.add_parser("info", help="list the caches of a directory")
    info.add_argument("--dir", default=DEFAULT_DIR, help=f"cache directory (default {DEFAULT_DIR})")
    info.set_defaults(handler=show_info)

    clear = actions.add_parser("clear", help="delete one cache (by digest prefix) or all of a directory")
    clear.add_argument("digest", nargs="?", help="digest or unique prefix; omitted: every cache")
    clear.add_argument("--dir", default=DEFAULT_DIR, help=f"cache directory (default {DEFAULT_DIR})")
    clear.set_defaults(handler=clear_caches)


def build_cache(args: argparse.Namespace) -> int:
    from prefopt.engine.distributed import make_accelerator
    from prefopt.engine.models import load_tokenizer
    from prefopt.engine.setup import prepare_splits
    from prefopt.reference import reference_caches

    config = config_from_arguments(args.items)
    accelerator = make_accelerator()
    tokenizer = load_tokenizer(config.model)
    splits = prepare_splits(config, tokenizer)
    for line in splits.reports:
        accelerator.print(line)
    # one cache per split, as training uses them
    for cache in reference_caches(config, tokenizer, [splits.train, splits.eval], accelerator):
        accelerator.print(f"reference cache ready: {cache.path} ({len(cache)} examples)")
    accelerator.end_training()
    return 0


def show_info(args: argparse.Namespace) -> int:
    from prefopt.reference import cache_info

    directory = Path(args.dir).expanduser()
    entries = cache_info(directory)
    if not entries:
        print(f"no reference caches in {directory}")
        return 0
    for entry in entries:
        if entry.error:
            print(f"{entry.digest[:16]}  unreadable ({entry.error})  {entry.path}")
            continue
        model = entry.components.get("model", "?")
        print(
            f"{entry.digest[:16]}  {entry.num_examples} examples x K={entry.num_slots}  {entry.dtype}  "
            f"{entry.size_bytes / 1e6:.2f} MB  {entry.created}  model {str(model)[:24]}"
        )
    return 0


def clear_caches(args: argparse.Namespace) -> int:
    from prefopt.reference import clear_cache

    directory = Path(args.dir).expanduser()
    try:
        removed = clear_cache(directory, args.digest)
    except (FileNotFoundError, ValueError) as error:
        print(f"prefopt cache clear: {error}", file=sys.stderr)
        return 2
    print(f"removed {len(removed)} file(s) from {directory}")
    return 0
