"""``prefopt cache build|info|clear``: the reference log-prob caches.

Every action finds the cache directory as training does, from the run configuration (``reference.cache_dir``;
default ``$PREFOPT_CACHE_DIR``, else ``~/.cache/prefopt/reference``); ``info`` and ``clear`` also take ``--dir``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prefopt.cli.common import add_config_arguments, config_from_arguments
from prefopt.config import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cache", help="build, list or delete reference log-prob caches")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    build = actions.add_parser("build", help="compute the reference cache a run's configuration needs")
    add_config_arguments(build)
    build.set_defaults(handler=build_cache)

    info = actions.add_parser("info", help="list the caches of a directory")
    _add_directory_arguments(info)
    info.set_defaults(handler=show_info)

    clear = actions.add_parser("clear", help="delete one cache (by digest prefix) or all of a directory")
    clear.add_argument("--digest", help="digest or unique prefix; omitted: every cache")
    _add_directory_arguments(clear)
    clear.set_defaults(handler=clear_caches)


def _add_directory_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument(
        "--dir",
        help="cache directory (default: reference.cache_dir of the configuration, as prefopt train uses it)",
    )


def cache_directory(args: argparse.Namespace) -> Path:
    """``--dir``, else the ``reference.cache_dir`` of ``[CONFIG] [key=value ...]``; both at once is a mistake."""
    if args.dir is not None and args.items:
        raise ConfigError(
            f"--dir and a configuration ({' '.join(args.items)}) both choose the cache directory; give one "
            "(a cache's digest goes after --digest)"
        )
    directory = args.dir if args.dir is not None else config_from_arguments(args.items).reference.cache_dir
    return Path(directory).expanduser()


def build_cache(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from prefopt.api import build_caches  # heavy imports only when building

    caches = build_caches(config_from_arguments(args.items))
    for cache in caches:
        PartialState().print(f"reference cache ready: {cache.path} ({len(cache)} examples)")
    return 0


def show_info(args: argparse.Namespace) -> int:
    from prefopt.reference import cache_info

    directory = cache_directory(args)
    entries = cache_info(directory)
    if not entries:
        print(f"no reference caches in {directory}")
        return 0
    print(f"reference caches in {directory}:")
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

    directory = cache_directory(args)
    try:
        removed = clear_cache(directory, args.digest)
    except (FileNotFoundError, ValueError) as error:
        print(f"prefopt cache clear: {error}", file=sys.stderr)
        return 2
    print(f"removed {len(removed)} file(s) from {directory}")
    return 0
