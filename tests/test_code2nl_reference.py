"""model.decoder=code2nl is the original CodeBERT code2nl model (microsoft/CodeBERT code2nl/model.py, run.py): the
original Seq2Seq is rebuilt here from torch.nn pieces as the original builds it, and the engine's model has its
exact parameter count and, given the same weights, its loss and gradients. It trains through `cram train`
(checkpoints, resume, decoder_lr groups), saves and loads to identical generations, and `cram export model` says
that plain transformers cannot load it instead of writing a different model."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from transformers import RobertaConfig, RobertaModel

from conftest import ROOT, tiny_config
from engine import checkpoint as ckpt
from engine import model as model_lib
from engine import code2nl_decoder as code2nl
from engine.batching import collate, encode
from engine.contract import config as c
from engine.contract.events import read_events
from engine.data import Example
from engine.evaluate import token_loss
from engine.generate import generate_ids
from engine.hardware import Hardware
from engine.session import make_optimizer
from engine.tokenizer import load_tokenizer, train_bpe

TEXTS = ["def add ( a , b ) : return a + b", "Return the sum of two numbers .",
         "def read ( path ) : with open ( path ) as f : return f . read ( )", "Read a file and return its text ."] * 20
PAIRS = [("def add ( a , b ) : return a + b", "Return the sum of two numbers ."),
         ("def read ( path ) : with open ( path ) as f : return f . read ( )", "Read a file and return its text ."),
         ("def neg ( x ) : return - x", "Negate x .")]
CPU = torch.device("cpu")


class OriginalSeq2Seq(nn.Module):
    """The original code2nl Seq2Seq (model.py), its training branch, as written there: target embeddings from the
    encoder's embeddings module, a -1e4 causal mask, tanh(dense) and an lm_head tied to the word embeddings, the
    mean cross-entropy over the active (shifted) target positions."""

    def __init__(self, encoder, decoder, config):
        super().__init__()
        self.encoder, self.decoder, self.config = encoder, decoder, config
        self.register_buffer("bias", torch.tril(torch.ones(2048, 2048)))
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.lm_head.weight = self.encoder.embeddings.word_embeddings.weight

    def forward(self, source_ids, source_mask, target_ids, target_mask):
        encoder_output = self.encoder(source_ids, attention_mask=source_mask)[0].permute([1, 0, 2]).contiguous()
        attn_mask = -1e4 * (1 - self.bias[:target_ids.shape[1], :target_ids.shape[1]])
        tgt_embeddings = self.encoder.embeddings(target_ids).permute([1, 0, 2]).contiguous()
        out = self.decoder(tgt_embeddings, encoder_output, tgt_mask=attn_mask,
                           memory_key_padding_mask=(1 - source_mask).bool())
        hidden_states = torch.tanh(self.dense(out)).permute([1, 0, 2]).contiguous()
        lm_logits = self.lm_head(hidden_states)
        active_loss = target_mask[..., 1:].ne(0).view(-1) == 1
        shift_logits = lm_logits[..., :-1, :].contiguous()
        shift_labels = target_ids[..., 1:].contiguous()
        return nn.CrossEntropyLoss(ignore_index=-1)(shift_logits.view(-1, shift_logits.size(-1))[active_loss],
                                                    shift_labels.view(-1)[active_loss])


def original_model(enc_dir: Path, layers: int = 6) -> OriginalSeq2Seq:
    """run.py: the pretrained encoder, nn.TransformerDecoderLayer(d_model=hidden, nhead=heads), 6 layers."""
    encoder = RobertaModel.from_pretrained(enc_dir)
    config = encoder.config
    layer = nn.TransformerDecoderLayer(d_model=config.hidden_size, nhead=config.num_attention_heads)
    return OriginalSeq2Seq(encoder, nn.TransformerDecoder(layer, num_layers=layers), config)


@pytest.fixture(scope="module")
def enc_dir(tmp_path_factory):
    """A small random RoBERTa encoder with its tokenizer, as a local pretrained folder."""
    tok = train_bpe(TEXTS, 400)
    d = tmp_path_factory.mktemp("tiny-roberta")
    RobertaModel(RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=64, max_position_embeddings=300, pad_token_id=tok.pad_token_id,
                               layer_norm_eps=1e-5)).save_pretrained(d)
    tok.save_pretrained(d)
    return d


def build(enc_dir, **kw):
    tok = load_tokenizer(enc_dir)
    cfg = c.ModelConfig(source="encoder", name_or_path=str(enc_dir), decoder="code2nl", **kw)
    model, meta = model_lib.build(cfg, tok, 130)
    return model, tok, meta


def batch_of(tok, ids, pairs=PAIRS):
    exs = [Example(i, "python", code, doc, code, "", "") for i, (code, doc) in enumerate(pairs)]
    enc = encode(exs, tok, 64, 16, ids["eos"])
    return enc, collate(enc, list(range(len(pairs))), ids)


def original_inputs(b: dict, ids: dict, src_len: int = 40, tgt_len: int = 20) -> dict:
    """The original's features from the engine's batch: padded to fixed lengths, the target with its start token."""
    def pad(rows, n):
        return (torch.tensor([r + [ids["pad"]] * (n - len(r)) for r in rows]),
                torch.tensor([[1] * len(r) + [0] * (n - len(r)) for r in rows]))
    src = [row[m.bool()].tolist() for row, m in zip(b["input_ids"], b["attention_mask"])]
    tgt = [[ids["start"]] + row[row != -100].tolist() for row in b["labels"]]
    source_ids, source_mask = pad(src, src_len)
    target_ids, target_mask = pad(tgt, tgt_len)
    return {"source_ids": source_ids, "source_mask": source_mask, "target_ids": target_ids, "target_mask": target_mask}


def test_parameter_count_loss_and_gradients_are_the_originals(enc_dir):
    ours, tok, meta = build(enc_dir)
    orig = original_model(enc_dir)
    assert meta["decoder"] == "code2nl" and ours.decoder.config.num_hidden_layers == 6
    n_orig = sum(p.numel() for p in orig.parameters())  # the tied lm_head counted once, as torch does
    assert model_lib.count_params(ours) == n_orig
    # the decoder's own parameters: 6 layers + the head's dense, nothing of the vocabulary
    n_dec = sum(p.numel() for p in ours.decoder.parameters())
    assert n_dec == sum(p.numel() for p in orig.decoder.parameters()) + 32 * 32 + 32
    # the same weights: the encoder from the same folder, the decoder copied from the original's state dict after
    # moving every decoder weight off its initial value (norms start at 1, biases at 0: a swapped name would pass)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in [*orig.decoder.parameters(), *orig.dense.parameters()]:
            p.add_(0.2 * torch.randn_like(p))
    ours.decoder.load_original(orig.state_dict())
    ours.eval(), orig.eval()
    # float64: the tied embedding's gradient sums contributions from three places in a different order in each
    # model; in float32 that order moved one row by ~1e-4 in a full-suite run (it passed alone), beyond atol
    ours.double(), orig.double()
    ids = model_lib.special_ids(ours)
    assert ids["start"] == tok.bos_token_id and ids["eos"] == tok.eos_token_id  # <s>, </s>: RoBERTa's cls, sep
    _, b = batch_of(tok, ids)
    loss_sum, n = token_loss(ours, b, CPU)
    ours_loss = loss_sum / n
    orig_loss = orig(**original_inputs(b, ids))
    assert n == int(b["n_tgt_tokens"])
    assert ours_loss.item() == pytest.approx(orig_loss.item(), abs=1e-5)
    ours_loss.backward()
    orig_loss.backward()
    # the word embeddings get the gradient of the input, the target embeddings and the tied output layer
    first = ours.decoder.roberta.encoder.layer[0]
    for a, o in ((ours.encoder.embeddings.word_embeddings.weight, orig.encoder.embeddings.word_embeddings.weight),
                 (ours.decoder.lm_head.dense.weight, orig.dense.weight),
                 (first.intermediate.dense.weight, orig.decoder.layers[0].linear1.weight),
                 (first.attention.output.LayerNorm.weight, orig.decoder.layers[0].norm1.weight)):
        assert torch.allclose(a.grad, o.grad, atol=1e-5)


def test_initial_decoder_is_the_originals_init_and_shares_the_encoders_embeddings(enc_dir):
    ours, _, _ = build(enc_dir, decoder_layers=3)
    layers = ours.decoder.roberta.encoder.layer
    # nn.TransformerDecoder deep-copies one layer: every layer starts equal; in_proj biases start at zero
    for name, p in layers[0].named_parameters():
        assert all(torch.equal(p, dict(layer.named_parameters())[name]) for layer in layers[1:]), name
    assert not layers[0].attention.self.query.bias.any()
    # nn.TransformerDecoderLayer's dropouts: on both attentions' weights, after each sublayer, after the ReLU
    assert [m.p for m in layers[0].modules() if isinstance(m, nn.Dropout)] == [0.1] * 6
    assert layers[0].intermediate.dropout.p == 0.1 and ours.decoder.config.hidden_act == "relu"
    emb = ours.encoder.embeddings
    assert ours.decoder.roberta.embeddings.target is emb and ours.decoder.lm_head._embeddings[0] is emb.word_embeddings
    names = {n for n, _ in ours.named_parameters()}
    assert not any(n.startswith("decoder.") and "embeddings" in n for n in names)


def test_save_load_round_trip_generates_the_same_and_plain_transformers_refuses(enc_dir, tmp_path):
    from transformers import AutoModelForSeq2SeqLM

    ours, tok, meta = build(enc_dir, decoder_layers=2)
    ids = model_lib.special_ids(ours)
    _, b = batch_of(tok, ids)
    opt = torch.optim.AdamW(ours.parameters(), lr=1e-2)
    ours.train()
    for _ in range(3):  # move away from the initial weights
        loss, n = token_loss(ours, b, CPU)
        (loss / n).backward()
        opt.step()
        opt.zero_grad()
    model_lib.save(ours, tok, meta, tmp_path / "m", decoding={"beam_size": 3, "max_target_len": 8,
                                                             "max_source_len": 64})
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["decoder"]["model_type"] == code2nl.MODEL_TYPE and saved["decoder"]["intermediate_size"] == 2048
    loaded, tok2, meta2 = model_lib.load(tmp_path / "m")
    assert meta2["decoder"] == "code2nl" and model_lib.count_params(loaded) == model_lib.count_params(ours)
    assert loaded.decoder.lm_head._embeddings[0] is loaded.encoder.embeddings.word_embeddings
    src = [tok(code)["input_ids"] for code, _ in PAIRS]
    kw = {"beam_size": 3, "max_len": 8, "device": CPU}
    before = generate_ids(ours, src, ids, batch_size=3, **kw)
    assert generate_ids(loaded, src, model_lib.special_ids(loaded), batch_size=3, **kw) == before
    # the KV-cache batched search equals the original's cost profile: no cache, one example at a time
    assert generate_ids(loaded, src, ids, batch_size=1, use_cache=False, **kw) == before
    assert loaded.generation_config.num_beams == 3
    with pytest.raises(ValueError, match=code2nl.MODEL_TYPE):
        AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "m")


def test_decoder_lr_groups_train_the_fresh_decoder_at_its_own_rate(enc_dir):
    hw = Hardware(device=CPU, precision="fp32", name="cpu", threads=1, peak_flops=None)
    train = c.TrainConfig(lr=1e-4, decoder_lr=5e-4, weight_decay=0.01)
    for decoder in ("code2nl", "engine"):
        tok = load_tokenizer(enc_dir)
        model, _ = model_lib.build(c.ModelConfig(source="encoder", name_or_path=str(enc_dir), decoder=decoder),
                                   tok, 130)
        opt = make_optimizer(model, train, hw)
        fresh = {id(p) for g in opt.param_groups if g.get("lr_scale") == 5.0 for p in g["params"]}
        base = {id(p) for g in opt.param_groups if "lr_scale" not in g for p in g["params"]}
        encoder = {id(p) for p in model.encoder.parameters()}
        own = {id(p) for p in model.decoder.parameters()} - encoder
        assert fresh == own and base == encoder, decoder
        assert id(model.encoder.get_input_embeddings().weight) in base  # shared/tied: the encoder's rate
        assert len(opt.param_groups) == 4
    # without decoder_lr: the two groups of before (resumable from older checkpoints)
    assert len(make_optimizer(model, c.TrainConfig(lr=1e-4), hw).param_groups) == 2


def test_weight_decay_follows_the_originals_rule(enc_dir):
    model, _, _ = build(enc_dir, decoder_layers=1)
    hw = Hardware(device=CPU, precision="fp32", name="cpu", threads=1, peak_flops=None)
    opt = make_optimizer(model, c.TrainConfig(weight_decay=0.01, adam_beta2=0.999), hw)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert "decoder.roberta.encoder.layer.0.attention.output.LayerNorm.weight" in decayed      # norm1 there
    assert "encoder.embeddings.LayerNorm.weight" not in decayed
    assert not any(n.endswith("bias") for n in decayed)
    assert opt.defaults["betas"] == (0.9, 0.999) and opt.defaults["eps"] == 1e-8


def cram(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_cram_train_resume_and_export(enc_dir, tmp_path, stdlib_corpus):
    cfg = tiny_config(**{"model.source": "encoder", "model.name_or_path": str(enc_dir), "model.decoder": "code2nl",
                         "model.decoder_layers": 2, "budget.seconds": 600, "budget.max_steps": 6,
                         "train.lr": 1e-3, "train.decoder_lr": 3e-3, "train.schedule": "linear",
                         "train.adam_beta2": 0.999, "data.max_train": 64, "data.max_valid": 8, "data.max_test": 8,
                         "eval.dev_subset": 4, "data.max_source_len": 32, "data.max_target_len": 12,
                         "eval.beam_size": 2, "train.batch_size": 8})
    conf = tmp_path / "code2nl.toml"
    c.save(cfg, conf)
    run = tmp_path / "run"
    r = cram("train", str(conf), "--run-dir", str(run))
    assert r.returncode == 0, r.stderr[-3000:]
    evs = list(read_events(run / "events.jsonl"))
    started = next(e for e in evs if e["event"] == "started")
    assert started["n_params"] == sum(p.numel() for p in original_model(enc_dir, layers=2).parameters())
    assert started["schedule"]["peak_lr"] == 1e-3
    steps = [e for e in evs if e["event"] == "step"]
    assert steps[-1]["step"] == 6 and all(e["loss"] > 0 for e in steps)
    blob = ckpt.read_optimizer(run / "checkpoints" / "last")
    groups = blob["optimizer"]["param_groups"]
    assert [g.get("lr_scale") for g in groups] == [None, None, 3.0, 3.0]
    assert groups[0]["lr"] > 0 and groups[2]["lr"] == pytest.approx(3.0 * groups[0]["lr"])
    assert tuple(groups[0]["betas"]) == (0.9, 0.999)
    # resume: two more steps from the checkpoint, the same optimizer groups
    cfg.budget.max_steps = 8
    (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    r = cram("train", "--resume", str(run))
    assert r.returncode == 0, r.stderr[-3000:]
    evs = list(read_events(run / "events.jsonl"))
    resumed = [e for e in evs if e["event"] == "started"][-1]
    assert resumed["resumed"] is True and resumed["step"] == 6
    assert [e for e in evs if e["event"] == "step"][-1]["step"] == 8
    # export: a folder cram loads and plain transformers refuses, a card that says so
    r = cram("export", "model", str(run), str(tmp_path / "export"))
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "export"
    assert "which plain transformers cannot load" in r.stderr
    from transformers import AutoModelForSeq2SeqLM
    with pytest.raises(ValueError, match=code2nl.MODEL_TYPE):
        AutoModelForSeq2SeqLM.from_pretrained(out)
    card = (out / "README.md").read_text()
    assert "model.decoder = \"code2nl\"" in card and "trust_remote_code" in card
    model, tok, meta = model_lib.load(out)
    assert meta["decoder"] == "code2nl" and code2nl.is_code2nl(model)


def test_the_code2nl_presets():
    paper, budget = c.preset("code2nl-paper"), c.preset("code2nl-budget")
    for p in (paper, budget):  # the original's model and optimizer in both
        assert (p.model.source, p.model.decoder, p.model.decoder_layers) == ("encoder", "code2nl", 6)
        assert (p.train.adam_beta2, p.train.weight_decay, p.train.lr, p.train.batch_size) == (0.999, 0.0, 5e-5, 32)
    # the paper: 10 epochs are the limit (the budget is the maximum), linear to the end, several dev evaluations
    assert (paper.train.schedule, paper.train.warmup, paper.budget.max_epochs) == ("linear", 0.0, 10)
    assert paper.budget.seconds == c._spec("budget.seconds")["max"] == 30 * 24 * 3600
    assert 0 < paper.eval.every_seconds <= 600 and paper.eval.dev_beam_size == paper.eval.beam_size == 10
    assert paper.train.decoder_lr == 0 and paper.hardware.precision == "fp32"
    # the budget variant: a schedule and dev evaluations fitted to the hour, the fresh decoder at its own rate
    assert budget.train.schedule.startswith("budget-") and budget.budget.max_epochs == 0
    assert 3 <= budget.budget.seconds / budget.eval.every_seconds <= 10
    assert budget.train.decoder_lr > budget.train.lr


def test_the_paper_preset_builds_the_original_model_from_a_local_encoder(enc_dir, tmp_path):
    from engine import distributed, session

    cfg = c.preset("code2nl-paper")
    c.apply_overrides(cfg, [f"model.name_or_path={enc_dir}", f"data.path={tmp_path}"])
    assert c.validate(cfg) == []
    location = session.model_location(cfg)
    tok = session.make_tokenizer(cfg, {}, tmp_path, distributed.Dist(), location)
    model, meta = session.build_model(cfg, tok, location)
    assert meta["decoder"] == "code2nl" and code2nl.is_code2nl(model)
    assert model_lib.count_params(model) == sum(p.numel() for p in original_model(enc_dir).parameters())
