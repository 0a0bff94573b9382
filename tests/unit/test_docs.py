"""The configuration reference documents every key of RunConfig."""

from pathlib import Path

from pydantic import BaseModel

from prefopt.config import LoraConfig, RunConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_keys(annotation, f"{prefix}{name}."))
        else:
            keys.append(prefix + name)
    return keys


def test_every_configuration_key_is_documented():
    text = DOC.read_text()
    keys = _keys(RunConfig) + _keys(LoraConfig, "model.lora.")
    missing = [key for key in keys if f"`{key}`" not in text]
    assert not missing, f"undocumented configuration keys: {missing}"
