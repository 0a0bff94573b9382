"""Loading models: a GGUF model, dequantised on load, trains and saves like any other."""

import torch
from transformers import AutoModelForCausalLM
from transformers.quantizers.quantizer_gguf import GgufHfQuantizer
from transformers.utils.quantization_config import GgufConfig

from prefopt.model import load as models
from prefopt.model.load import ModelSource, load_model
from tests.conftest import make_tiny_llama


def test_a_gguf_model_saves_and_loads_back_with_its_weights(tmp_path, monkeypatch):
    marked = make_tiny_llama()  # as transformers returns a GGUF model: float weights, marked as quantized
    marked.hf_quantizer = GgufHfQuantizer(GgufConfig())
    marked.config.quantization_config = GgufConfig()

    def from_pretrained(path, *, gguf_file, dtype):
        assert (path, gguf_file) == (tmp_path, "model.Q4_1.gguf")
        return marked

    monkeypatch.setattr(models.AutoModelForCausalLM, "from_pretrained", from_pretrained)
    model = load_model(ModelSource(tmp_path, "model.Q4_1.gguf", None), "float32")
    model.save_pretrained(tmp_path / "saved")
    monkeypatch.undo()
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "saved")
    expected = make_tiny_llama().state_dict()
    assert all(torch.equal(value, expected[name]) for name, value in reloaded.state_dict().items())
