"""Models (from scratch, code2nl encoder recipe, any seq2seq) through the real from_pretrained path on local
folders, and batched beam search: beam 1 == greedy, alone == in a batch, cache == no cache."""
import torch
import pytest
from transformers import BartConfig, BartForConditionalGeneration, RobertaConfig, RobertaModel

from engine.contract import config as c
from engine import model as model_lib
from engine.generate import generate_ids
from engine.tokenizer import train_bpe

TEXTS = ["def add ( a , b ) : return a + b", "Return the sum of two numbers .",
         "def read ( path ) : with open ( path ) as f : return f . read ( )", "Read a file and return its text ."] * 20


@pytest.fixture(scope="module")
def tok():
    return train_bpe(TEXTS, 400)


def _scratch(tok, size="tiny"):
    cfg = c.ModelConfig(source="scratch", size=size)
    m, meta = model_lib.build(cfg, tok, 130)
    return m.eval(), meta


def test_tokenizer_roundtrip_and_specials(tok, tmp_path):
    ids = tok("Return the sum .")["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert tok.decode(ids, skip_special_tokens=True).strip() == "Return the sum ."
    tok.save_pretrained(tmp_path)
    from engine.tokenizer import load_tokenizer
    assert load_tokenizer(tmp_path)("Return the sum .")["input_ids"] == ids


def test_scratch_save_load_same_outputs(tok, tmp_path):
    m, meta = _scratch(tok)
    model_lib.save(m, tok, meta, tmp_path / "m")
    m2, tok2, meta2 = model_lib.load(tmp_path / "m")
    x = torch.tensor([tok("def add ( a , b )")["input_ids"]])
    d = torch.tensor([[m.config.decoder_start_token_id, 5, 6]])
    with torch.no_grad():
        assert torch.allclose(m(input_ids=x, decoder_input_ids=d).logits, m2(input_ids=x, decoder_input_ids=d).logits)
    assert meta2 == meta and tok2.get_vocab() == tok.get_vocab()


def test_pre_norm_scratch_model_is_mbart_shaped_and_round_trips(tok, tmp_path):
    m, meta = model_lib.build(c.ModelConfig(source="scratch", size="tiny", norm="pre"), tok, 130)
    post, _ = _scratch(tok)
    assert m.config.model_type == "mbart" and post.config.model_type == "bart"
    # mBART: a LayerNorm after the last encoder and decoder layer, the same parameters otherwise
    assert m.model.encoder.layer_norm is not None and m.model.decoder.layer_norm is not None
    assert model_lib.count_params(m) == model_lib.count_params(post) + 4 * 64
    # pre-norm: an encoder layer's output is its input plus the blocks' outputs, not a normalised sum
    layer = m.model.encoder.layers[0].eval()
    x = 5 + 3 * torch.randn(1, 4, 64)
    with torch.no_grad():
        y = layer(x, attention_mask=None)[0]
    assert y.std(-1).mean() > 2   # BART's post-norm layer would return unit-variance rows
    m.eval()
    model_lib.save(m, tok, meta, tmp_path / "m")
    m2, _, meta2 = model_lib.load(tmp_path / "m")
    assert m2.config.model_type == "mbart" and meta2 == meta
    x = torch.tensor([tok("def add ( a , b )")["input_ids"]])
    d = torch.tensor([[m.config.decoder_start_token_id, 5, 6]])
    with torch.no_grad():
        assert torch.allclose(m(input_ids=x, decoder_input_ids=d).logits, m2(input_ids=x, decoder_input_ids=d).logits)
    out = generate_ids(m2, [tok("def add")["input_ids"]], model_lib.special_ids(m2), beam_size=3, max_len=5,
                       batch_size=1, device=torch.device("cpu"))
    assert len(out) == 1 and len(out[0]) <= 5


def test_the_micro_size_is_the_smaller_shape_and_decodes(tok):
    micro, _ = model_lib.build(c.ModelConfig(source="scratch", size="micro", norm="pre"), tok, 130)
    tiny, _ = model_lib.build(c.ModelConfig(source="scratch", size="tiny", norm="pre"), tok, 130)
    conf = micro.config
    assert (conf.d_model, conf.encoder_layers, conf.decoder_layers, conf.encoder_attention_heads,
            conf.encoder_ffn_dim, conf.decoder_ffn_dim) == (48, 2, 2, 4, 192, 192)
    assert model_lib.count_params(micro) < 0.8 * model_lib.count_params(tiny)
    out = generate_ids(micro, [tok("def add")["input_ids"]], model_lib.special_ids(micro), beam_size=2, max_len=4,
                       batch_size=1, device=torch.device("cpu"))
    assert len(out) == 1 and len(out[0]) <= 4


def test_encoder_recipe_from_local_pretrained_folder_ties_embeddings(tok, tmp_path):
    enc_dir = tmp_path / "tiny-roberta"
    rc = RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=64, max_position_embeddings=140, pad_token_id=tok.pad_token_id)
    RobertaModel(rc).save_pretrained(enc_dir)
    tok.save_pretrained(enc_dir)
    cfg = c.ModelConfig(source="encoder", name_or_path=str(enc_dir), decoder_layers=3)
    from engine.tokenizer import load_tokenizer
    t = load_tokenizer(enc_dir)
    m, meta = model_lib.build(cfg, t, 130)
    enc_emb = m.encoder.get_input_embeddings().weight
    assert m.decoder.get_input_embeddings().weight is enc_emb and m.decoder.get_output_embeddings().weight is enc_emb
    assert m.decoder.config.num_hidden_layers == 3 and m.decoder.config.add_cross_attention
    # the pretrained encoder weights were really loaded
    ref = RobertaModel.from_pretrained(enc_dir)
    assert torch.equal(ref.embeddings.word_embeddings.weight, enc_emb)
    model_lib.save(m, t, meta, tmp_path / "saved")
    assert m.decoder.get_input_embeddings().weight is enc_emb  # re-tied after saving
    m2, _, meta2 = model_lib.load(tmp_path / "saved")
    assert meta2["kind"] == "encoder"
    assert m2.decoder.get_output_embeddings().weight is m2.encoder.get_input_embeddings().weight
    ids = model_lib.special_ids(m2)
    out = generate_ids(m2, [t("def add")["input_ids"]], ids, beam_size=3, max_len=5, batch_size=1,
                       device=torch.device("cpu"))
    assert len(out) == 1 and len(out[0]) <= 5


def test_seq2seq_from_local_folder_and_errors(tok, tmp_path):
    bc = BartConfig(vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                    decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=140,
                    pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=2)
    BartForConditionalGeneration(bc).save_pretrained(tmp_path / "s2s")
    tok.save_pretrained(tmp_path / "s2s")
    m, meta = model_lib.build(c.ModelConfig(source="seq2seq", name_or_path=str(tmp_path / "s2s")), tok, 130)
    assert meta["kind"] == "seq2seq" and m.config.is_encoder_decoder
    with pytest.raises(model_lib.ModelError, match="cannot load"):
        model_lib.build(c.ModelConfig(source="seq2seq", name_or_path=str(tmp_path / "nope")), tok, 130)
    RobertaModel(RobertaConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=16)).save_pretrained(tmp_path / "enc-only")
    with pytest.raises(model_lib.ModelError, match="not an encoder-decoder"):
        model_lib.build(c.ModelConfig(source="seq2seq", name_or_path=str(tmp_path / "enc-only")), tok, 130)


def _greedy(m, src, ids, max_len):
    x = torch.tensor([src])
    dec = [ids["start"]]
    with torch.no_grad():
        for _ in range(max_len):
            nxt = int(m(input_ids=x, decoder_input_ids=torch.tensor([dec])).logits[0, -1].argmax())
            if nxt == ids["eos"]:
                break
            dec.append(nxt)
    return dec[1:]


@pytest.fixture(scope="module")
def trained(tok):
    """A tiny model overfitted a little so generations are not all identical."""
    torch.manual_seed(0)
    m, meta = _scratch(tok)
    m.train()
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    src = [tok(t)["input_ids"] for t in TEXTS[0::2][:2]]
    tgt = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in TEXTS[1::2][:2]]
    ids = model_lib.special_ids(m)
    from engine.batching import Encoded, collate
    from engine.evaluate import token_loss
    enc = Encoded(src, tgt)
    for _ in range(60):
        loss, n = token_loss(m, collate(enc, [0, 1], ids), torch.device("cpu"))
        (loss / n).backward()
        opt.step()
        opt.zero_grad()
    return m.eval(), ids


SOURCES = ["def add ( a , b ) : return a + b", "def read ( path ) : with open ( path ) as f : return f . read ( )",
           "def f ( x ) : return x", "def read ( path ) : return path"]


def test_beam1_equals_greedy(tok, trained):
    m, ids = trained
    srcs = [tok(s)["input_ids"] for s in SOURCES]
    out = generate_ids(m, srcs, ids, beam_size=1, max_len=12, batch_size=4, device=torch.device("cpu"))
    assert out == [_greedy(m, s, ids, 12) for s in srcs]
    assert out[0] != out[1]  # the model learned something example-specific


@pytest.mark.parametrize("beam", [1, 4])
def test_alone_equals_batched_and_cache_equals_no_cache(tok, trained, beam):
    m, ids = trained
    srcs = [tok(s)["input_ids"] for s in SOURCES]
    cpu = torch.device("cpu")
    batched = generate_ids(m, srcs, ids, beam_size=beam, max_len=12, batch_size=4, device=cpu)
    alone = [generate_ids(m, [s], ids, beam_size=beam, max_len=12, batch_size=1, device=cpu)[0] for s in srcs]
    nocache = generate_ids(m, srcs, ids, beam_size=beam, max_len=12, batch_size=1, device=cpu, use_cache=False)
    assert batched == alone == nocache


@pytest.mark.parametrize("beam", [1, 3])
def test_no_repeat_ngram_keeps_every_ngram_unique(tok, beam):
    torch.manual_seed(0)
    m, _ = _scratch(tok)
    ids = model_lib.special_ids(m)
    src = [tok(t)["input_ids"] for t in TEXTS[:4]]
    kw = dict(beam_size=beam, max_len=24, batch_size=4, device=torch.device("cpu"))
    loose = generate_ids(m, src, ids, **kw)
    assert any(len(set(r)) < len(r) for r in loose)          # a random model repeats itself ...
    for n in (1, 2):
        for row in generate_ids(m, src, ids, no_repeat_ngram=n, **kw):
            grams = [tuple(row[i:i + n]) for i in range(len(row) - n + 1)]
            assert len(grams) == len(set(grams)), row        # ... and never with no_repeat_ngram
