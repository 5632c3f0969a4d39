"""`cram data build|stats|fetch` and `cram bleu` from the command line."""
import subprocess
import sys

from conftest import ROOT, shared_path

GO = '''package calc

// Add returns the sum of two integers a and b.
func Add(a int, b int) int {
	return a + b // plain sum
}

// Scale multiplies every value in xs by the given factor.
func Scale(xs []int, factor int) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = x * factor
	}
	return out
}
'''


def cram(*args, **kw):
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, **kw)


def test_build_then_stats(tmp_path):
    src = tmp_path / "src"
    for i in range(12):
        (src / f"pkg{i}").mkdir(parents=True)
        (src / f"pkg{i}" / "calc.go").write_text(GO.replace("calc", f"calc{i}").replace("Add", f"Add{i}"))
    out = tmp_path / "corpus"
    r = cram("data", "build", str(src), "--language", "go", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stdout and "data.languages=go" in r.stdout
    assert "duplicate 11" in r.stdout  # Scale is the same function in every package: kept once
    r = cram("data", "stats", str(out))
    assert r.returncode == 0 and "go" in r.stdout
    counts = {line.split()[1]: int(line.split()[2]) for line in r.stdout.splitlines() if line.startswith("go ")}
    assert sum(counts.values()) == 13 and set(counts) == {"train", "valid", "test"}  # 12 Add* + one Scale


def test_build_errors_are_clear(tmp_path):
    r = cram("data", "build", str(tmp_path / "missing"), "--language", "go")
    assert r.returncode == 2 and "missing" in r.stderr


def test_fetch_offline_fails_fast_with_instructions(tmp_path):
    import os
    r = cram("data", "fetch", "codexglue", "--languages", "ruby", "--out", str(tmp_path / "cxg"),
             env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert r.returncode == 2
    assert "ruby/train.jsonl" in r.stderr and "24,927" in r.stderr


def test_bleu_cli_prints_the_official_number():
    ref = shared_path("reference", "reference.txt")
    pred = shared_path("reference", "predictions.txt")
    with open(pred) as fh:
        r = cram("bleu", str(ref), stdin=fh)
    assert r.returncode == 0 and r.stdout.strip() == "9.554726113590661"


def test_build_jsonl_streams_progress_and_result(tmp_path):
    import json
    src = tmp_path / "src" / "p"
    src.mkdir(parents=True)
    (src / "calc.go").write_text(GO)
    r = cram("data", "build", str(tmp_path / "src"), "--language", "go", "--out", str(tmp_path / "c"), "--jsonl")
    evs = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.returncode == 0 and evs[0]["event"] == "progress" and evs[0]["task"] == "build"
    assert evs[-1]["event"] == "done" and evs[-1]["status"] == "completed"
    assert sum(evs[-1]["counts"].values()) == 2 and evs[-1]["path"] == str(tmp_path / "c")
