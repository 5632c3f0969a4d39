"""The original CodeBERT code2nl decoder (microsoft/CodeBERT code2nl/model.py and run.py), built on transformers'
RoBERTa layers so that `generate()` runs it with the engine's batched KV-cache beam search.

The original: `nn.TransformerDecoder(nn.TransformerDecoderLayer(d_model=hidden, nhead=heads), num_layers=6)`
(FFN 2048, ReLU, dropout 0.1, post-norm, LayerNorm eps 1e-5, all layers starting from one deep-copied layer);
target embeddings `encoder.embeddings(target_ids)` (the encoder's whole embeddings module: word + position +
token type + LayerNorm + dropout); logits `lm_head(tanh(dense(out)))` with `lm_head` the encoder's word embedding
matrix (no bias). A RoBERTa layer with cross-attention is the same computation (post-norm: LayerNorm(x +
dropout(sublayer(x))) after self-attention, cross-attention and the FFN); `Code2nlDecoder` is a RobertaForCausalLM
with hidden_act relu, intermediate 2048, eps 1e-5, a dropout after the FFN's activation (as
nn.TransformerDecoderLayer has), the encoder's embeddings module used without being owned, and `Code2nlHead`
instead of RoBERTa's LM head. Its initial weights are the original's: a real nn.TransformerDecoder and
nn.Linear are built and copied in (`ORIGINAL_NAMES` maps one naming onto the other).

Parameter count: encoder + layers + the head's dense, exactly the original's (tests/test_code2nl_reference.py
builds the original module from torch.nn pieces and compares count and loss). The decoder owns no embedding,
so a saved state holds each matrix once and nothing is tied at load time: `attach()` re-points the decoder at the
encoder's embeddings module.
"""
from __future__ import annotations

import re

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import RobertaConfig, RobertaForCausalLM
from transformers.models.roberta.modeling_roberta import RobertaIntermediate

FFN = 2048            # nn.TransformerDecoderLayer's default dim_feedforward
LAYER_NORM_EPS = 1e-5  # nn.LayerNorm's default
MODEL_TYPE = "cram-code2nl-decoder"  # the decoder's model_type in a saved config.json: plain transformers refuses it


class _SharedEmbeddings(nn.Module):
    """The encoder's embeddings module, called by the decoder but not registered in it (a tuple holds it), so its
    parameters belong to the encoder alone: state dicts, optimizers and DDP see each of them once."""

    def __init__(self, target: nn.Module):
        super().__init__()
        self._target = (target,)

    @property
    def target(self) -> nn.Module:
        return self._target[0]

    @property
    def word_embeddings(self) -> nn.Embedding:
        return self.target.word_embeddings

    def forward(self, **kw) -> torch.Tensor:
        return self.target(**kw)


class _Unattached(nn.Module):
    def forward(self, **kw):
        raise RuntimeError("the code2nl decoder is not attached to an encoder's embeddings (Code2nlDecoder.attach)")


class Code2nlHead(nn.Module):
    """logits = tanh(dense(h)) @ E^T, E the encoder's word embeddings (the original's tied lm_head, no bias)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self._embeddings: tuple[nn.Embedding, ...] = ()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if not self._embeddings:
            raise RuntimeError("the code2nl head is not attached to an encoder's word embeddings")
        return F.linear(torch.tanh(self.dense(hidden_states)), self._embeddings[0].weight)


class _Intermediate(RobertaIntermediate):
    """The FFN's first half with nn.TransformerDecoderLayer's dropout after the activation (RoBERTa has none)."""

    def __init__(self, config):
        super().__init__(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.intermediate_act_fn(self.dense(hidden_states)))


def decoder_config(encoder_config, layers: int, dropout: float, pad: int, bos: int, eos: int) -> RobertaConfig:
    ec = encoder_config
    return RobertaConfig(
        vocab_size=ec.vocab_size, hidden_size=ec.hidden_size, num_attention_heads=ec.num_attention_heads,
        intermediate_size=FFN, hidden_act="relu", layer_norm_eps=LAYER_NORM_EPS,
        max_position_embeddings=getattr(ec, "max_position_embeddings", 514), num_hidden_layers=layers,
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, pad_token_id=pad, bos_token_id=bos,
        eos_token_id=eos, is_decoder=True, add_cross_attention=True, tie_word_embeddings=False,
        type_vocab_size=getattr(ec, "type_vocab_size", 1))


class Code2nlDecoder(RobertaForCausalLM):
    """code2nl's decoder as a transformers causal LM with cross-attention (see the module docstring)."""

    _tied_weights_keys = None
    is_code2nl = True

    def __init__(self, config: RobertaConfig):
        super().__init__(config)
        self.roberta.embeddings = _Unattached()
        for layer in self.roberta.encoder.layer:
            layer.intermediate = _Intermediate(config)
        self.lm_head = Code2nlHead(config.hidden_size)

    def attach(self, encoder_embeddings: nn.Module) -> None:
        """Use `encoder_embeddings` (the encoder's RobertaEmbeddings-like module) for the targets and its word
        embedding matrix as the output layer."""
        self.roberta.embeddings = _SharedEmbeddings(encoder_embeddings)
        self.lm_head._embeddings = (encoder_embeddings.word_embeddings,)

    def get_output_embeddings(self):
        return None  # the output layer is the encoder's word embeddings, not a module of the decoder

    def set_output_embeddings(self, new_embeddings):
        raise NotImplementedError("the code2nl decoder's output layer is the encoder's word embeddings")

    def init_like_original(self) -> None:
        """The original's initial weights: one nn.TransformerDecoderLayer deep-copied into every layer (as
        nn.TransformerDecoder does) and a default nn.Linear for the head's dense."""
        c = self.config
        layer = nn.TransformerDecoderLayer(d_model=c.hidden_size, nhead=c.num_attention_heads, dim_feedforward=FFN,
                                           dropout=c.hidden_dropout_prob)
        stack = nn.TransformerDecoder(layer, num_layers=c.num_hidden_layers)
        dense = nn.Linear(c.hidden_size, c.hidden_size)
        state = {f"decoder.{k}": v for k, v in stack.state_dict().items()}
        state.update({f"dense.{k}": v for k, v in dense.state_dict().items()})
        self.load_original(state)

    def load_original(self, state: dict[str, torch.Tensor]) -> None:
        """Copy in the decoder part of an original Seq2Seq state dict (`decoder.layers.N.*`, `dense.*`)."""
        ours = {}
        for name in self.state_dict():
            orig, part = ORIGINAL_NAMES.original(f"decoder.{name}")
            t = state[orig]
            ours[name] = t.chunk(3)[part] if part is not None else t
        self.load_state_dict(ours, strict=True)


class _Names:
    """The engine's parameter names <-> the original Seq2Seq's (`decoder.layers.N.norm1.weight`, `dense.bias`).
    The q/k/v projections are thirds of nn.MultiheadAttention's in_proj: `original` returns (name, third)."""

    LAYER = {"attention.output.dense": "self_attn.out_proj", "attention.output.LayerNorm": "norm1",
             "crossattention.output.dense": "multihead_attn.out_proj", "crossattention.output.LayerNorm": "norm2",
             "intermediate.dense": "linear1", "output.dense": "linear2", "output.LayerNorm": "norm3"}
    QKV = {"query": 0, "key": 1, "value": 2}
    _layer = re.compile(r"^decoder\.roberta\.encoder\.layer\.(\d+)\.(.+)\.(weight|bias)$")

    def original(self, name: str) -> tuple[str, int | None]:
        """The original's name of engine parameter `name` (of the EncoderDecoderModel); encoder names are the
        same in both."""
        if name.startswith("decoder.lm_head.dense."):
            return "dense." + name.rsplit(".", 1)[1], None
        m = self._layer.match(name)
        if not m:
            return name, None
        i, module, kind = m.groups()
        for attn, orig in (("attention.self.", "self_attn"), ("crossattention.self.", "multihead_attn")):
            if module.startswith(attn) and module[len(attn):] in self.QKV:
                return f"decoder.layers.{i}.{orig}.in_proj_{kind}", self.QKV[module[len(attn):]]
        return f"decoder.layers.{i}.{self.LAYER[module]}.{kind}", None


ORIGINAL_NAMES = _Names()
NO_DECAY = ("bias", "LayerNorm.weight")  # run.py's rule, on the original's names


def original_no_decay(name: str) -> bool:
    """Whether the original run.py exempts engine parameter `name` from weight decay: its names contain 'bias' or
    'LayerNorm.weight'. So the encoder's LayerNorm weights are exempt and the decoder's (norm1..3 there) are not."""
    orig, _ = ORIGINAL_NAMES.original(name)
    return any(nd in orig for nd in NO_DECAY)


def is_code2nl(model) -> bool:
    return bool(getattr(getattr(model, "decoder", None), "is_code2nl", False))
