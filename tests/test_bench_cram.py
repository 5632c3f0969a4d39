"""`python -m bench cram`: the Ruby benchmark split, the plan of runs (task presets, the recipe's reference rows,
seeds, budgets) and the table with the floor beside every BLEU -- the training itself replaced by a recorder."""
import json

import pytest

from bench import cram


def ruby_lines(n):
    return "".join(json.dumps({"idx": i, "code_tokens": ["def", f"m{i}"], "docstring_tokens": ["does", str(i)]})
                   + "\n" for i in range(n))


def test_ruby_folder_is_a_seeded_disjoint_split(tmp_path):
    src = tmp_path / "valid.jsonl"
    src.write_text(ruby_lines(1450))
    a = cram.ruby_folder(src, tmp_path / "a")
    b = cram.ruby_folder(src, tmp_path / "b")
    parts = {s: (a / "ruby" / f"{s}.jsonl").read_text().splitlines() for s in ("train", "valid", "test")}
    assert {s: len(v) for s, v in parts.items()} == cram.RUBY_SPLIT
    assert len(set(sum(parts.values(), []))) == sum(cram.RUBY_SPLIT.values())       # disjoint
    assert (b / "ruby" / "test.jsonl").read_text().splitlines() == parts["test"]     # the same split every time
    short = tmp_path / "short.jsonl"
    short.write_text(ruby_lines(10))
    assert cram.ruby_folder(short, tmp_path / "c") is None
    assert cram.ruby_folder(tmp_path / "absent.jsonl", tmp_path / "d") is None


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    calls = []

    def fake_train(preset, sets, run_dir, timeout):
        calls.append((preset, sets))
        seed = int(next(s for s in sets if s.startswith("train.seed=")).split("=")[1])
        recipe = "train.lr=5e-5" in sets
        bleu = 9.0 if recipe else 12.0 + seed
        return {"bleu4": bleu, "floor_bleu4": 11.5, "above_floor": bleu - 11.5, "n": 100, "floor_text": "x",
                "steps": 10, "eval_seconds": 1.0, "best_dev_bleu": 10.0, "wall_seconds": 2.0, "run_dir": str(run_dir)}

    monkeypatch.setattr(cram, "train_once", fake_train)
    monkeypatch.setattr(cram, "OUT", tmp_path / "out")
    src = tmp_path / "valid.jsonl"
    src.write_text(ruby_lines(1400))
    return calls, src


def test_plan_runs_each_task_budget_and_seed_with_its_preset(recorded):
    calls, src = recorded
    res = cram.run(["builtin", "ruby-recipe"], [120.0], threads=1, seeds=2, ruby_file=src)
    assert [(p, [s for s in sets if s.startswith(("train.seed", "budget.seconds", "hardware.threads"))])
            for p, sets in calls] == [
        ("smoke", ["budget.seconds=120.0", "hardware.threads=1", "train.seed=1"]),
        ("smoke", ["budget.seconds=120.0", "hardware.threads=1", "train.seed=2"]),
        ("cpu-codexglue", ["budget.seconds=120.0", "hardware.threads=1", "train.seed=1"]),
        ("cpu-codexglue", ["budget.seconds=120.0", "hardware.threads=1", "train.seed=2"])]
    assert not set(cram.RECIPE) & set(calls[0][1])                       # the preset as it is
    assert set(cram.RECIPE) <= set(calls[2][1])                          # the reference: the recipe's settings
    assert "data.languages=ruby" in calls[2][1]
    table = cram.table(res)
    assert "floor" in table.splitlines()[0] and "above floor" in table.splitlines()[0]
    medians = [ln for ln in table.splitlines() if "median/2" in ln]
    assert len(medians) == 2 and "+2.00" in medians[0] and "-2.50" in medians[1]   # 13, 14 vs 11.5; 9 vs 11.5


def test_absent_ruby_file_is_a_skipped_row(recorded, tmp_path):
    calls, _ = recorded
    res = cram.run(["ruby"], [60.0], threads=1, seeds=1, ruby_file=tmp_path / "nope.jsonl")
    assert calls == [] and "skipped" in cram.table(res)
