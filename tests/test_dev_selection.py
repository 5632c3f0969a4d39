"""Checkpoint selection that is not noise: dev BLEU on a seeded random dev subset (the same across a resume),
decoded with eval.dev_beam_size beams, and dev loss as the tie-break when dev BLEUs are within eval.dev_tie_bleu."""
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import tiny_config
from engine import dev_eval as dev_eval_lib
from engine.budget import BudgetClock
from engine.contract import config as config_lib
from engine.contract.events import EventWriter, read_events
from engine.data import Example, read_split
from engine.dev_eval import CONSTANT_SHARE, better, top_share
from engine.session import dev_subset
from engine.state import TrainState
from engine import train


def _examples(n, lang="python"):
    return [Example(i, lang, f"def f{i} ( ) :", f"summary {i}", "", "", f"f{i}") for i in range(n)]


# ---------------------------------------------------------------------------------------------- the dev subset
def test_dev_subset_is_a_seeded_random_sample_in_file_order():
    exs = _examples(1000)
    a = dev_subset(exs, 50, 0, "python")
    assert len(a) == 50 and len({e.idx for e in a}) == 50
    assert [e.idx for e in a] == sorted(e.idx for e in a)          # file order
    assert [e.idx for e in a] != list(range(50))                   # not the first lines of the file
    assert max(e.idx for e in a) > 500                             # drawn from the whole split
    random.seed(123)                                               # the global RNG (train.seed) plays no part
    assert dev_subset(exs, 50, 0, "python") == a
    assert dev_subset(exs, 50, 1, "python") != a                   # eval.dev_seed changes it
    assert dev_subset(exs, 50, 0, "ruby") != a                     # each language its own draw
    assert dev_subset(exs[:30], 50, 0, "python") == exs[:30]       # all of a smaller split, as it is


def test_dev_subset_is_the_same_in_another_process(tmp_path):
    from conftest import ROOT

    code = ("from engine.session import dev_subset; from engine.data import Example; "
            "exs = [Example(i, 'go', '', '', '', '', '') for i in range(500)]; "
            "print([e.idx for e in dev_subset(exs, 20, 7, 'go')])")
    runs = {subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONHASHSEED": str(h)}).stdout for h in (1, 2)}
    assert runs == {str([e.idx for e in dev_subset(_examples(500, "go"), 20, 7, "go")]) + "\n"}


def test_the_new_eval_fields_validate():
    cfg = config_lib.RunConfig()
    assert (cfg.eval.dev_beam_size, cfg.eval.dev_seed, cfg.eval.dev_tie_bleu) == (1, 0, 0.3)
    config_lib.apply_overrides(cfg, ["eval.dev_beam_size=3", "eval.dev_tie_bleu=0.5", "eval.dev_seed=9"])
    assert (cfg.eval.dev_beam_size, cfg.eval.dev_tie_bleu, cfg.eval.dev_seed) == (3, 0.5, 9)
    assert not config_lib.validate(cfg)
    cfg.eval.dev_beam_size = 0
    assert any("dev_beam_size" in str(e) for e in config_lib.validate(cfg))


# ---------------------------------------------------------------------------------------------- the tie-break
def test_tie_break_within_the_margin_picks_the_lower_dev_loss():
    st = TrainState()
    assert better(10.0, 3.0, st, 0.3)                               # the first evaluation is the best
    st = TrainState(best_dev_bleu=12.0, best_dev_loss=2.0, top_dev_bleu=12.0)
    assert better(11.8, 1.9, st, 0.3)                               # within 0.3, lower loss: wins
    assert not better(12.2, 2.1, st, 0.3)                           # within 0.3, higher loss: loses
    assert better(12.31, 2.5, st, 0.3)                              # clearly higher BLEU wins whatever the loss
    assert not better(11.6, 1.0, st, 0.3)                           # clearly lower BLEU loses whatever the loss
    assert better(12.0, 1.99, st, 0.0) and not better(12.0, 2.0, st, 0.0)  # margin 0: exact ties only
    # a chain of ties cannot drift down: within the margin of the best, but not of the highest seen
    drifted = TrainState(best_dev_bleu=11.8, best_dev_loss=1.9, top_dev_bleu=12.2)
    assert better(11.95, 1.8, drifted, 0.3) and not better(11.85, 1.8, drifted, 0.3)
    # a best checkpoint without a loss (older runs) or a non-finite loss: strictly higher BLEU decides
    old = TrainState(best_dev_bleu=12.0)
    assert better(12.1, 9.0, old, 0.3) and not better(11.9, 0.1, old, 0.3)
    assert not better(11.9, float("nan"), st, 0.3) and better(12.1, float("nan"), st, 0.3)


def test_top_share_counts_the_most_frequent_prediction_as_the_scorer_sees_it():
    assert top_share([]) == 0.0
    assert top_share(["a b", "c d", "e f", "g h"]) == 0.25
    assert top_share(["Return x .", "return x . ", "Set y .", "return X ."]) == 0.75   # stripped, lower-cased
    assert top_share(["same"] * 9 + ["other"]) == 0.9


def test_a_constant_dev_evaluation_never_replaces_a_varied_best_and_always_loses_to_one():
    varied, constant = 0.1, CONSTANT_SHARE
    st = TrainState(best_dev_bleu=7.5, best_dev_loss=9.0, top_dev_bleu=7.5, best_top_share=varied)
    assert not better(8.13, 5.0, st, 0.3, constant)     # higher BLEU and lower loss, but one sentence for all
    assert better(7.9, 9.5, st, 0.3, 0.49) and not better(7.6, 9.5, st, 0.3, 0.49)   # a varied one: as before
    st = TrainState(best_dev_bleu=8.13, best_dev_loss=5.0, top_dev_bleu=8.13, best_top_share=0.97)
    assert better(7.49, 10.0, st, 0.3, varied)          # the Ruby seed-2 case: the varied checkpoint wins
    assert not better(7.7, 4.0, st, 0.3, 0.9)           # two constant ones: BLEU and the tie-break decide
    assert better(8.0, 4.0, st, 0.3, 0.9) and better(8.5, 6.0, st, 0.3, 0.9)
    # unknown shares (a best checkpoint from before top_share was recorded): BLEU and loss decide, as before
    old = TrainState(best_dev_bleu=8.13, best_dev_loss=5.0, top_dev_bleu=8.13)
    assert not better(7.49, 10.0, old, 0.3, varied) and better(9.0, 6.0, old, 0.3, 1.0)


class _Spy:
    """Stands in for the decoder and the dev loss of a session: scripted (bleu, loss[, predictions]) per
    evaluation (three varied predictions unless scripted)."""

    def __init__(self, script):
        self.script, self.calls, self.i = list(script), [], -1

    def loss(self, *a, **k):
        self.i += 1
        return self.script[self.i][1]

    def decode(self, model, tokenizer, es, ids, *, beam_size, **k):
        self.calls.append(beam_size)
        item = self.script[self.i]
        return {"bleu4": item[0], "predictions": item[2] if len(item) > 2 else ["a", "b", "c"]}


def test_dev_eval_decodes_with_dev_beam_size_and_checkpoints_the_tie_winner(monkeypatch):
    spy = _Spy([(12.0, 2.0), (12.2, 2.3), (11.9, 1.7), (13.0, 3.0)])
    monkeypatch.setattr(dev_eval_lib, "dev_loss", spy.loss)
    monkeypatch.setattr(dev_eval_lib, "decode_and_score", spy.decode)
    written = []
    monkeypatch.setattr(dev_eval_lib.ckpt, "write", lambda s, st, kind, *a, **k: written.append((st.step, kind)))
    cfg = config_lib.RunConfig()
    config_lib.apply_overrides(cfg, ["eval.beam_size=10", "eval.dev_beam_size=2", "eval.dev_tie_bleu=0.3"])
    model = SimpleNamespace(train=lambda: None)
    hw = SimpleNamespace(device="cpu", autocast=lambda: None)
    es = SimpleNamespace(language="python", enc=None, examples=[1, 2, 3])
    s = SimpleNamespace(cfg=cfg, model=model, tokenizer=None, ids={}, hw=hw, dist=None, dev_sets=[es])
    st, evs = TrainState(), []
    emit = lambda kind, **kw: evs.append(kw)  # noqa: E731
    for step in (10, 20, 30, 40):
        st.step = step
        dev_eval_lib.dev_eval(s, st, BudgetClock(100.0), emit)
    assert spy.calls == [2, 2, 2, 2]                                # never eval.beam_size
    assert [e["best"] for e in evs] == [True, False, True, True]
    assert written == [(10, "best"), (30, "best"), (40, "best")]
    assert (st.best_dev_bleu, st.best_dev_loss, st.top_dev_bleu) == (13.0, 3.0, 13.0)
    assert TrainState.from_dict(json.loads(json.dumps(st.to_dict()))) == st   # the state round-trips
    assert [round(e["top_share"], 4) for e in evs] == [0.3333] * 4


def test_dev_eval_keeps_the_varied_checkpoint_when_a_later_one_turns_constant(monkeypatch):
    one = ["Build the FolderId element"] * 3
    spy = _Spy([(6.0, 6.0, one), (7.49, 5.5), (8.13, 5.2, one), (7.6, 5.4)])
    monkeypatch.setattr(dev_eval_lib, "dev_loss", spy.loss)
    monkeypatch.setattr(dev_eval_lib, "decode_and_score", spy.decode)
    written = []
    monkeypatch.setattr(dev_eval_lib.ckpt, "write", lambda s, st, kind, *a, **k: written.append(st.step))
    cfg = config_lib.RunConfig()
    es = SimpleNamespace(language="ruby", enc=None, examples=[1, 2, 3])
    s = SimpleNamespace(cfg=cfg, model=SimpleNamespace(train=lambda: None), tokenizer=None, ids={},
                        hw=SimpleNamespace(device="cpu", autocast=lambda: None), dist=None, dev_sets=[es])
    st, evs = TrainState(), []
    for step in (10, 20, 30, 40):
        st.step = step
        dev_eval_lib.dev_eval(s, st, BudgetClock(100.0), lambda kind, **kw: evs.append(kw))
    assert [e["best"] for e in evs] == [True, True, False, True]   # constant first: replaced; constant later: not
    assert written == [10, 20, 40]
    assert [e["top_share"] for e in evs] == [1.0, 0.3333, 1.0, 0.3333]
    assert (st.best_dev_bleu, st.best_top_share) == (7.6, 1 / 3)
    restored = TrainState.from_dict(json.loads(json.dumps(st.to_dict())))   # survives a resume
    assert restored.best_top_share == st.best_top_share


# ---------------------------------------------------------------------------------------------- for real
@pytest.mark.slow
def test_the_dev_subset_and_beam_hold_across_a_resume(tmp_path, stdlib_corpus, monkeypatch):
    seen = []
    real = dev_eval_lib.decode_and_score

    def spy(model, tokenizer, es, ids, *, beam_size, **k):
        seen.append((beam_size, [e.idx for e in es.examples]))
        return real(model, tokenizer, es, ids, beam_size=beam_size, **k)

    monkeypatch.setattr(dev_eval_lib, "decode_and_score", spy)
    cfg = tiny_config(**{"budget.seconds": 2, "data.max_valid": 60, "eval.dev_subset": 15, "eval.beam_size": 3,
                         "eval.dev_beam_size": 1})

    def run(resume):
        w = EventWriter(Path(tmp_path) / "events.jsonl")
        try:
            assert train.run(cfg, Path(tmp_path), w, resume=resume) == 0
        finally:
            w.close()

    run(False)
    first = list(seen)
    cfg.budget.seconds = 4
    cfg.train.seed = 7    # even another training seed keeps the dev subset
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_dict()))
    run(True)
    assert first and len(seen) > len(first)
    assert {b for b, _ in seen} == {1}                             # dev decodes greedily ...
    subsets = {tuple(idx) for _, idx in seen}
    assert len(subsets) == 1                                       # ... always the same examples ...
    (subset,) = subsets
    valid, _ = read_split(stdlib_corpus / "python" / "valid.jsonl", "python", "valid", 60)
    assert len(subset) == 15 and set(subset) <= {e.idx for e in valid}
    assert list(subset) != [e.idx for e in valid[:15]]             # a random sample, not the first lines
    evs = list(read_events(Path(tmp_path) / "events.jsonl"))
    assert [e["resumed"] for e in evs if e["event"] == "started"] == [False, True]
    results = [e for e in evs if e["event"] == "result"]
    assert results and all(r["beam_size"] == 3 for r in results)  # ... and the final test uses eval.beam_size
