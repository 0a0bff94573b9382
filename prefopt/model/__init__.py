"""The model layer: everything about a causal LM that the reference and the training loop share.

Below both :mod:`prefopt.reference` and :mod:`prefopt.engine`; imports neither.

- :mod:`~prefopt.model.load`: models and tokenizers by local path, ``.gguf`` file, Hub id or built-in preset;
- :mod:`~prefopt.model.hub`: a Hub id resolved and pinned to one snapshot commit;
- :mod:`~prefopt.model.logprobs`: response log-probs, the only model forward, in an explicit :class:`Layout`;
- :mod:`~prefopt.model.packing`: the packed layout (each prompt once for its K responses, several examples a row);
- :mod:`~prefopt.model.precision`: whether bfloat16 pays off on the device at hand;
- :mod:`~prefopt.model.vector_math`: torch's vector math accurate from a process's first call.
"""
