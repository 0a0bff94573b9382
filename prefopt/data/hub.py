"""Preference data named as Hugging Face tools name it.

``data.path`` may be a Hub dataset id (``Anthropic/hh-rlhf``) or a local dataset repository folder, read with
``datasets.load_dataset`` and ``data.subset`` / ``data.data_dir`` / ``data.split``; or a directory written by
``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``, read with ``datasets.load_from_disk``. The Hugging Face
cache (``HF_HOME``), ``HF_DATASETS_OFFLINE`` / ``HF_HUB_OFFLINE`` and tokens work as in ``datasets`` itself. Files
and plain directories named without these settings are read by :mod:`prefopt.data.readers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import datasets

from prefopt.data.errors import UNREADABLE, PreferenceDataError
from prefopt.hub_names import is_hub_id

#: Files ``save_to_disk`` writes: one of a DatasetDict, both of a Dataset.
SAVED_DICT = "dataset_dict.json"
SAVED_DATASET = ("state.json", "dataset_info.json")


@dataclass(frozen=True)
class NamedDataset:
    """Rows loaded by ``datasets``, with the name messages give them (``"org/name (data_dir d, split test)"``)."""

    name: str
    rows: datasets.Dataset


def is_saved_dataset(path: Path) -> bool:
    """Whether ``path`` is a directory written by ``save_to_disk``."""
    return (path / SAVED_DICT).is_file() or all((path / name).is_file() for name in SAVED_DATASET)


def open_dataset(
    path: str, *, subset: str | None = None, data_dir: str | None = None, split: str | None = None
) -> str | NamedDataset:
    """What ``path`` names: a :class:`NamedDataset` for a ``save_to_disk`` directory, a Hub id or a dataset
    folder read with the Hub settings; else ``path`` itself, a file or directory of files.

    Raises:
        PreferenceDataError: the dataset cannot be loaded, or has several splits and ``split`` names none of
            them; the message names ``path``, the settings tried, the cache and whether the Hub is offline.
    """
    location = Path(path).expanduser()
    if location.is_dir() and is_saved_dataset(location):
        if subset is not None or data_dir is not None:
            raise PreferenceDataError(
                "is a directory written by save_to_disk; data.subset and data.data_dir apply to load_dataset only",
                reason=UNREADABLE,
                file=path,
            )
        try:
            loaded = datasets.load_from_disk(str(location))
        except (OSError, ValueError) as error:
            raise PreferenceDataError(f"cannot be read by load_from_disk: {error}", reason=UNREADABLE, file=path) from None
        if split is not None and isinstance(loaded, datasets.Dataset):
            raise PreferenceDataError(
                f"holds one Dataset saved without splits; data.split={split} names none", reason=UNREADABLE, file=path
            )
        return _one_split(loaded, split, path, _name(path, None, None, split))
    hub_forms = subset is not None or data_dir is not None or split is not None
    if location.is_file() and hub_forms:
        raise PreferenceDataError(
            "is a file; data.subset, data.data_dir and data.split apply to a Hub dataset id, a dataset repository "
            "folder or a save_to_disk directory",
            reason=UNREADABLE,
            file=path,
        )
    if (location.exists() and not hub_forms) or (not location.exists() and not is_hub_id(path)):
        return path
    return _load_dataset(path, subset, data_dir, split, location)


def _load_dataset(path: str, subset: str | None, data_dir: str | None, split: str | None, location: Path):
    name = _name(path, subset, data_dir, split)
    try:
        loaded = datasets.load_dataset(path, name=subset, data_dir=data_dir, split=split)
    except Exception as error:  # datasets raises many kinds (connection, missing files, bad splits): none is usable
        tried = "" if location.exists() else f"no local file or directory {location.absolute()}; as a Hub dataset id, "
        offline = "the Hub is offline" if datasets.config.HF_HUB_OFFLINE else "the Hub was asked"
        raise PreferenceDataError(
            f"resolves to nothing: {tried}datasets.load_dataset ({_settings(subset, data_dir, split) or 'no subset'}; "
            f"cache {datasets.config.HF_DATASETS_CACHE}; {offline}) failed: {' '.join(str(error).split())}",
            reason=UNREADABLE,
            file=path,
        ) from None
    return _one_split(loaded, split, path, name)


def _one_split(loaded, split: str | None, path: str, name: str) -> NamedDataset:
    if isinstance(loaded, datasets.DatasetDict):
        splits = sorted(loaded)
        if split is None and len(splits) == 1:
            return NamedDataset(f"{name} (split {splits[0]})", loaded[splits[0]])
        if split not in loaded:
            asked = "names none" if split is None else f"{split!r} is not one"
            raise PreferenceDataError(f"has splits {splits}; data.split {asked} of them", reason=UNREADABLE, file=path)
        return NamedDataset(name, loaded[split])
    return NamedDataset(name, loaded)


def _settings(subset: str | None, data_dir: str | None, split: str | None) -> str:
    given = {"subset": subset, "data_dir": data_dir, "split": split}
    return ", ".join(f"{key} {value}" for key, value in given.items() if value is not None)


def _name(path: str, subset: str | None, data_dir: str | None, split: str | None) -> str:
    settings = _settings(subset, data_dir, split)
    return f"{path} ({settings})" if settings else path
