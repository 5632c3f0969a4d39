"""Build, save and load the seq2seq model. Every kind ends as a transformers model with generate() and
save_pretrained():

  scratch  BART-shaped encoder-decoder (shared embeddings), sizes tiny/small/base, own BPE tokenizer;
           model.norm=pre builds the mBART shape (pre-norm layers, a final LayerNorm) instead
  encoder  CodeBERT code2nl: a pretrained RoBERTa-style encoder + a fresh N-layer Transformer decoder with
           cross-attention. model.decoder=engine: a RobertaForCausalLM sized from the encoder whose word
           embeddings (input and output) are tied to the encoder's; model.decoder=code2nl: the original's decoder
           (engine.code2nl_decoder: FFN 2048, ReLU, the encoder's embeddings module, tanh dense head tied to the
           encoder's word embeddings)
  seq2seq  any pretrained AutoModelForSeq2SeqLM (e.g. a CodeT5 checkpoint)

A saved model folder holds the HF files, the tokenizer, and `cram_model.json` (kind + tying + decoder) so loading
restores the same structure. trust_remote_code stays off everywhere. A code2nl-decoder folder has no transformers
class (its head is not one): its config.json names the decoder `code2nl_decoder.MODEL_TYPE`, so plain
transformers refuses it instead of loading a different model; `load` builds it.

A saved folder also records the run's decoding, so plain transformers reproduces the engine's predictions:
`generation_config.json` holds the evaluation's beam search (num_beams, max_new_tokens, early_stopping,
length_penalty, the special ids) and the tokenizer's `model_max_length` is the run's maximum source length (the
engine truncates sources on the right, special tokens included, exactly as `tokenizer(code, truncation=True)`
does). Then `model.generate(**tokenizer(code, truncation=True, return_tensors="pt"))` gives the engine's
prediction for `code`.
"""
from __future__ import annotations

import copy
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch.nn as nn
from transformers import (AutoConfig, AutoModel, AutoModelForSeq2SeqLM, BartConfig, BartForConditionalGeneration,
                          EncoderDecoderConfig, EncoderDecoderModel, GenerationConfig, MBartConfig,
                          MBartForConditionalGeneration, RobertaConfig, RobertaForCausalLM)

from . import code2nl_decoder as code2nl
from .contract.config import ModelConfig
from .generate import LENGTH_PENALTY

META_FILE = "cram_model.json"
SIZES = {  # d_model, encoder layers, decoder layers, heads, ffn
    "micro": (48, 2, 2, 4, 192),  # the smoke preset's: ~1.4x the steps of tiny in a 2-minute CPU budget
    "tiny": (64, 2, 2, 4, 256),
    "small": (256, 4, 4, 4, 1024),
    "base": (768, 12, 6, 12, 3072),  # CodeBERT's encoder shape + the recipe's 6-layer decoder
}


class ModelError(RuntimeError):
    pass


def _sdpa_kwargs() -> dict:
    return {"attn_implementation": "sdpa"}


def build_scratch(cfg: ModelConfig, tokenizer, max_positions: int):
    """model.norm=post: BART; pre: mBART (the same fields, pre-norm layers and a final LayerNorm)."""
    d, n_enc, n_dec, heads, ffn = SIZES[cfg.size]
    conf_cls, model_cls = (MBartConfig, MBartForConditionalGeneration) if cfg.norm == "pre" else \
        (BartConfig, BartForConditionalGeneration)
    conf = conf_cls(
        vocab_size=len(tokenizer), d_model=d, encoder_layers=n_enc, decoder_layers=n_dec,
        encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=ffn, decoder_ffn_dim=ffn,
        max_position_embeddings=max_positions, dropout=cfg.dropout, attention_dropout=0.0,
        activation_dropout=0.0, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.bos_token_id,
        forced_bos_token_id=None, forced_eos_token_id=None, scale_embedding=False,
        tie_word_embeddings=True)
    return model_cls._from_config(conf, **_sdpa_kwargs())


def build_encoder_decoder(cfg: ModelConfig, tokenizer) -> EncoderDecoderModel:
    """code2nl: pretrained encoder + fresh decoder, decoder word embeddings = encoder word embeddings."""
    try:
        encoder = AutoModel.from_pretrained(cfg.name_or_path, trust_remote_code=False, **_sdpa_kwargs())
    except OSError as e:
        raise ModelError(f"cannot load encoder {cfg.name_or_path!r}: {e}. Give a local folder (config.json + "
                         "weights) or a hub id reachable from this machine.") from None
    if cfg.decoder == "code2nl":
        return _code2nl(encoder, cfg, tokenizer)
    ec = encoder.config
    dec_conf = RobertaConfig(
        vocab_size=ec.vocab_size, hidden_size=ec.hidden_size, num_attention_heads=ec.num_attention_heads,
        intermediate_size=getattr(ec, "intermediate_size", 4 * ec.hidden_size),
        max_position_embeddings=getattr(ec, "max_position_embeddings", 514),
        num_hidden_layers=cfg.decoder_layers, hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        is_decoder=True, add_cross_attention=True, type_vocab_size=getattr(ec, "type_vocab_size", 1))
    decoder = RobertaForCausalLM._from_config(dec_conf, **_sdpa_kwargs())
    model = EncoderDecoderModel(encoder=encoder, decoder=decoder)
    _set_special_ids(model, tokenizer, start=tokenizer.bos_token_id)
    tie_decoder_embeddings(model)
    return model


def _code2nl(encoder, cfg: ModelConfig, tokenizer) -> EncoderDecoderModel:
    """The original code2nl decoder on `encoder`, initialised as the original initialises it."""
    dec_conf = code2nl.decoder_config(encoder.config, cfg.decoder_layers, cfg.dropout, tokenizer.pad_token_id,
                                      tokenizer.bos_token_id, tokenizer.eos_token_id)
    decoder = code2nl.Code2nlDecoder._from_config(dec_conf, **_sdpa_kwargs())
    model = EncoderDecoderModel(encoder=encoder, decoder=decoder)
    decoder.attach(model.encoder.embeddings)
    decoder.init_like_original()
    _set_special_ids(model, tokenizer, start=tokenizer.bos_token_id)
    return model


def _load_code2nl(folder: Path) -> EncoderDecoderModel:
    """A code2nl-decoder model saved by `save`: the structure from config.json, the weights strictly."""
    from safetensors.torch import load_file

    raw = json.loads((folder / "config.json").read_text())
    raw["decoder"] = {**raw["decoder"], "model_type": "roberta"}
    conf = EncoderDecoderConfig.from_dict(raw)
    encoder = AutoModel.from_config(conf.encoder, **_sdpa_kwargs())
    decoder = code2nl.Code2nlDecoder._from_config(conf.decoder, **_sdpa_kwargs())
    model = EncoderDecoderModel(config=conf, encoder=encoder, decoder=decoder)
    decoder.attach(model.encoder.embeddings)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise ModelError(f"{folder}: no model.safetensors (a code2nl-decoder model is saved as one file)")
    model.load_state_dict(load_file(str(weights)), strict=True)
    if (folder / "generation_config.json").is_file():
        model.generation_config = GenerationConfig.from_pretrained(folder)
    return model.eval()


def _mark_code2nl_config(folder: Path) -> None:
    """config.json names the decoder code2nl_decoder.MODEL_TYPE: transformers has no class for its head, and a
    plain RobertaForCausalLM would load with a fresh GELU/LayerNorm head and fresh embeddings (a different model)
    where it now refuses the folder."""
    path = folder / "config.json"
    raw = json.loads(path.read_text())
    raw["decoder"]["model_type"] = code2nl.MODEL_TYPE
    path.write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n")


def _quiet(fn, *args):
    """`fn(*args)` without transformers' warnings: reading a code2nl folder's tokenizer, transformers tries its
    config.json, cannot name the decoder's type, and warns about a mismatch that does not concern the tokenizer."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return fn(*args)
    finally:
        hf_logging.set_verbosity(level)


def tie_decoder_embeddings(model: EncoderDecoderModel) -> None:
    shared = model.encoder.get_input_embeddings().weight
    model.decoder.get_input_embeddings().weight = shared
    model.decoder.get_output_embeddings().weight = shared


def load_seq2seq(name_or_path: str) -> nn.Module:
    try:
        conf = AutoConfig.from_pretrained(name_or_path, trust_remote_code=False)
    except OSError as e:
        raise ModelError(f"cannot load seq2seq model {name_or_path!r}: {e}") from None
    if not conf.is_encoder_decoder:
        raise ModelError(f"{name_or_path!r} is a {conf.model_type} model, not an encoder-decoder; use "
                         "model.source=encoder for an encoder-only checkpoint")
    try:
        return AutoModelForSeq2SeqLM.from_pretrained(name_or_path, trust_remote_code=False, **_sdpa_kwargs())
    except (ValueError, ImportError):  # architecture without SDPA support
        return AutoModelForSeq2SeqLM.from_pretrained(name_or_path, trust_remote_code=False)


def _set_special_ids(model, tokenizer, start: int) -> None:
    for conf in (model.config, model.generation_config):
        conf.decoder_start_token_id = start
        conf.pad_token_id = tokenizer.pad_token_id
        conf.eos_token_id = tokenizer.eos_token_id
        conf.bos_token_id = tokenizer.bos_token_id


def special_ids(model) -> dict:
    c = model.config
    start = c.decoder_start_token_id
    if start is None:
        start = c.bos_token_id if c.bos_token_id is not None else c.pad_token_id
    return {"start": start, "eos": c.eos_token_id, "pad": c.pad_token_id}


def build(cfg: ModelConfig, tokenizer, max_positions: int):
    if cfg.source == "scratch":
        model, kind = build_scratch(cfg, tokenizer, max_positions), "scratch"
    elif cfg.source == "encoder":
        model, kind = build_encoder_decoder(cfg, tokenizer), "encoder"
    else:
        model, kind = load_seq2seq(cfg.name_or_path), "seq2seq"
        if model.config.decoder_start_token_id is None:
            _set_special_ids(model, tokenizer, start=tokenizer.pad_token_id)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if code2nl.is_code2nl(model):  # nothing to tie: the decoder owns no embedding (engine.code2nl_decoder)
        return model, {"kind": kind, "decoder": "code2nl", "tie_decoder_embeddings": False}
    return model, {"kind": kind, "tie_decoder_embeddings": kind == "encoder"}


@contextmanager
def _untied_for_saving(model, meta: dict):
    """safetensors refuses tensors shared in ways the model class does not declare: save the tied decoder
    embedding as its own copy, then tie again (loading re-ties from the meta file)."""
    if not meta.get("tie_decoder_embeddings"):
        yield
        return
    shared = model.encoder.get_input_embeddings().weight
    copy = nn.Parameter(shared.detach().clone(), requires_grad=False)
    model.decoder.get_input_embeddings().weight = copy
    model.decoder.get_output_embeddings().weight = copy
    try:
        yield
    finally:
        tie_decoder_embeddings(model)


def decoding_settings(cfg) -> dict:
    """What a saved model records of a run's decoding (a RunConfig): the evaluation's beam size, the maximum
    summary length (max_new_tokens), the n-gram size never repeated, the maximum source length (the tokenizer's
    model_max_length), whether the code's identifiers were split into words (engine.data.split_identifiers) and
    whether code and summaries were lower-cased (data.lowercase)."""
    return {"beam_size": int(cfg.eval.beam_size), "max_target_len": int(cfg.data.max_target_len),
            "max_source_len": int(cfg.data.max_source_len), "no_repeat_ngram": int(cfg.eval.no_repeat_ngram),
            "split_identifiers": bool(cfg.data.split_identifiers), "lowercase": bool(cfg.data.lowercase)}


def generation_config_for(model, decoding: dict):
    """The model's GenerationConfig with the engine's decoding (engine.generate.generate_ids) written in."""
    gc = copy.deepcopy(model.generation_config)
    ids = special_ids(model)
    beams = int(decoding["beam_size"])
    gc.num_beams = beams
    gc.max_new_tokens = int(decoding["max_target_len"])
    gc.do_sample = False
    gc.num_return_sequences = 1
    gc.decoder_start_token_id, gc.eos_token_id, gc.pad_token_id = ids["start"], ids["eos"], ids["pad"]
    if int(decoding.get("no_repeat_ngram", 0)) > 0:
        gc.no_repeat_ngram_size = int(decoding["no_repeat_ngram"])
    if beams > 1:  # engine.generate._search_kwargs
        gc.early_stopping = True
        gc.length_penalty = LENGTH_PENALTY
    # written by us, not derived from the model config: generate() must not rebuild it from config.json
    gc._from_model_config = False
    return gc


@contextmanager
def _attrs(obj, values: dict[str, Any]):
    """Set attributes for the duration of a save, then put the old values back (the live object is unchanged)."""
    old = {k: getattr(obj, k) for k in values if hasattr(obj, k)}
    for k, v in values.items():
        setattr(obj, k, v)
    try:
        yield
    finally:
        for k in values:
            if k in old:
                setattr(obj, k, old[k])
            else:
                delattr(obj, k)


def tokenizer_settings(decoding: dict | None) -> dict:
    """What the saved tokenizer records so that `tokenizer(code, truncation=True)` encodes as engine.batching.encode
    (special tokens added, right truncation to the maximum source length) and `decode(ids, skip_special_tokens=True)`
    as engine.generate.to_text (no clean-up of spaces)."""
    out: dict[str, Any] = {"truncation_side": "right", "padding_side": "right", "clean_up_tokenization_spaces": False}
    if decoding and decoding.get("max_source_len"):
        out["model_max_length"] = int(decoding["max_source_len"])
    return out


def save(model, tokenizer, meta: dict, folder: str | Path, decoding: dict | None = None) -> None:
    """Write `model` and `tokenizer` to `folder` (created). `decoding` (decoding_settings of the run; default
    meta["decoding"]) goes into generation_config.json and the tokenizer's settings, and into cram_model.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    decoding = decoding or meta.get("decoding")
    meta = {**meta, "decoding": dict(decoding)} if decoding else meta
    target = getattr(model, "_orig_mod", model)  # unwrap torch.compile
    gen = {"generation_config": generation_config_for(target, decoding)} if decoding else {}
    with _untied_for_saving(target, meta), _attrs(target, gen):
        target.save_pretrained(folder)
    if code2nl.is_code2nl(target):
        _mark_code2nl_config(folder)
    with _attrs(tokenizer, tokenizer_settings(decoding)):
        tokenizer.save_pretrained(folder)
    (folder / META_FILE).write_text(json.dumps(meta, indent=2))


def load(folder: str | Path):
    """(model, tokenizer, meta) from a folder written by `save` (a checkpoint or an exported model)."""
    from .tokenizer import load_tokenizer

    folder = Path(folder)
    meta_path = folder / META_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {"kind": "seq2seq"}
    if meta.get("kind") == "encoder" and meta.get("decoder") == "code2nl":
        return _load_code2nl(folder), _quiet(load_tokenizer, folder), meta
    if meta.get("kind") == "encoder":
        model = EncoderDecoderModel.from_pretrained(folder, **_sdpa_kwargs())
        tie_decoder_embeddings(model)
    else:
        model = load_seq2seq(str(folder))
    return model, load_tokenizer(folder), meta


def param_groups(model, weight_decay: float, decoder_lr_scale: float = 0.0) -> list[dict]:
    """The optimizer's parameter groups, tied parameters once. No weight decay on biases and norms (fewer than 2
    dimensions or "norm" in the name); with the original code2nl decoder, the original's rule instead (run.py: none
    on names with 'bias' or 'LayerNorm.weight', which decays the decoder's norm1..3 weights). `decoder_lr_scale` > 0
    (train.decoder_lr / train.lr, encoder recipe): the fresh decoder's own parameters, not the encoder's embeddings
    it shares, go in groups of their own with that `lr_scale` (engine.step); otherwise two groups, as ever."""
    original = code2nl.is_code2nl(model)
    split = decoder_lr_scale > 0 and getattr(model, "encoder", None) is not None and hasattr(model, "decoder")
    shared = {id(p) for p in model.encoder.parameters()} if split else set()
    found: dict[tuple[bool, bool], list] = {}
    seen: set[int] = set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        no_decay = code2nl.original_no_decay(name) if original else (p.ndim < 2 or "norm" in name.lower())
        found.setdefault((split and id(p) not in shared, no_decay), []).append(p)
    groups = []
    for fresh, no_decay in ((False, False), (False, True), (True, False), (True, True)):
        params = found.get((fresh, no_decay), [])
        if fresh and not params:
            continue
        groups.append({"params": params, "weight_decay": 0.0 if no_decay else weight_decay,
                       **({"lr_scale": decoder_lr_scale} if fresh else {})})
    return groups


def count_params(model) -> int:
    seen, n = set(), 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            n += p.numel()
    return n


def flops_per_token(model, src_len: float, tgt_len: float) -> float:
    """Training FLOPs per real token (fwd+bwd ≈ 3× fwd): 6·N for the non-embedding weights, plus attention
    scores/values: 12·layers·d·context per token (self-attn over its own length, cross-attn over the source)."""
    emb = model.get_input_embeddings().weight.numel()
    n = count_params(model) - emb
    c = model.config
    d = getattr(c, "d_model", None) or getattr(getattr(c, "encoder", c), "hidden_size", 768)
    n_enc = getattr(c, "encoder_layers", None) or getattr(getattr(c, "encoder", c), "num_hidden_layers", 12)
    n_dec = getattr(c, "decoder_layers", None) or getattr(getattr(c, "decoder", c), "num_hidden_layers", 6)
    total = src_len + tgt_len
    attn = 12 * d * (n_enc * src_len * src_len + n_dec * (tgt_len * tgt_len + tgt_len * src_len))
    return 6 * n + attn / max(total, 1)
