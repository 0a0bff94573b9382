"""The data layer: read preference records, normalise them, tokenise them and collate batches.

``load_preferences`` -> ``list[RankedExample]`` -> ``tokenize_examples`` -> ``list[TokenizedExample]`` ->
``collate`` -> ``Batch``. See docs/data-formats.md.
"""

from prefopt.data.batch import Batch, TokenizedExample, collate
from prefopt.data.errors import PreferenceDataError
from prefopt.data.keys import example_key
from prefopt.data.load import LoadReport, load_preferences
from prefopt.data.split import split_examples
from prefopt.data.tokenize import TokenizeReport, tokenize_examples

__all__ = [
    "Batch",
    "LoadReport",
    "PreferenceDataError",
    "TokenizeReport",
    "TokenizedExample",
    "collate",
    "example_key",
    "load_preferences",
    "split_examples",
    "tokenize_examples",
]
