"""engine.fetch: CodeXGLUE code-to-text through `datasets`, driven from local dataset folders (no network)."""
import json
import time

import pytest

from engine import data, fetch
from engine.tasks import Cancelled

HF = {"train": "train", "valid": "validation", "test": "test"}
SIZES = {"ruby": {"train": 7, "valid": 3, "test": 2}, "go": {"train": 5, "valid": 2, "test": 2}}


def hub_row(lang, split, i):
    """A row as the Hub dataset has it: `id` first, the original fields, no `partition`."""
    return {"id": i, "repo": f"owner/{lang}-repo", "path": f"src/f{i}.{lang}", "func_name": f"f_{split}_{i}",
            "original_string": f"def f_{split}_{i}\n  # Do thing {i} ü.\nend", "language": lang,
            "code": f"def f_{split}_{i}\nend", "code_tokens": ["def", f"f_{split}_{i}", "end"],
            "docstring": f"Do thing {i} ü.", "docstring_tokens": ["Do", "thing", str(i), "ü", "."],
            "sha": "0" * 40, "url": f"https://github.com/owner/repo/blob/x/src/f{i}#L1-L3"}


def rows_of(lang, split):
    return [hub_row(lang, split, i) for i in range(SIZES[lang][split])]


@pytest.fixture
def datasets_lib():
    return pytest.importorskip("datasets", reason="the optional `datasets` package (cramgui[fetch]) is not installed")


@pytest.fixture
def parquet_source(tmp_path, datasets_lib):
    """A copy of the Hub repository's layout: SRC/{lang}/{train,validation,test}-00000-of-00001.parquet."""
    src = tmp_path / "hub-copy"
    for lang, sizes in SIZES.items():
        (src / lang).mkdir(parents=True)
        for split in sizes:
            datasets_lib.Dataset.from_list(rows_of(lang, split)).to_parquet(
                str(src / lang / f"{HF[split]}-00000-of-00001.parquet"))
    return src


def read_rows(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_fetch_from_local_parquet(tmp_path, parquet_source):
    out = tmp_path / "out"
    seen = []
    manifest = fetch.fetch_codexglue(out, ["go", "ruby"], source=parquet_source,
                                     progress=lambda d, n, msg: seen.append(msg))
    assert manifest["counts"] == SIZES | {}
    assert manifest["languages"] == ["ruby", "go"]  # engine.contract.config.LANGUAGES order
    assert manifest["complete"] == {"ruby": True, "go": True} and manifest["all_complete"]
    assert manifest["source"] == str(parquet_source.resolve()) and manifest["kind"] == fetch.KIND
    assert json.loads((out / "manifest.json").read_text()) == manifest
    for lang in SIZES:
        for split, n in SIZES[lang].items():
            path = out / lang / f"{split}.jsonl"
            entry = manifest["files"][f"{lang}/{split}.jsonl"]
            assert entry["n"] == n and entry["complete"] and entry["sha256"] == fetch.sha256_of(path)
            assert entry["bytes"] == path.stat().st_size and entry["expected"] == fetch.EXPECTED_COUNTS[lang][split]
            rows = read_rows(path)
            assert [r["func_name"] for r in rows] == [f"f_{split}_{i}" for i in range(n)]
            assert list(rows[0]) == list(fetch.FIELDS) + ["partition"]  # original field order, `id` dropped
            assert all(r["partition"] == split for r in rows)
            assert rows[0]["docstring_tokens"] == ["Do", "thing", "0", "ü", "."]
    assert "\\u00fc" in (out / "ruby" / "train.jsonl").read_text()  # json.dumps default, like the original files
    assert any("ruby/train.jsonl" in m for m in seen) and seen[-1] == "done"
    loaded = data.load_corpus(out, ["ruby", "go"])
    assert loaded[("ruby", "valid")][1].n == 3 and loaded[("ruby", "valid")][0][0].target == "Do thing 0 ü ."
    assert data.find_languages(out) == ["ruby", "go"]
    assert not list(out.rglob("*.tmp"))


def test_rerun_skips_complete_files(tmp_path, parquet_source, monkeypatch):
    out = tmp_path / "out"
    first = fetch.fetch_codexglue(out, ["ruby"], source=parquet_source)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.jsonl")}

    def must_not_open(*a, **k):
        raise AssertionError("a complete file was fetched again")
    monkeypatch.setattr(fetch, "_open_split", must_not_open)
    again = fetch.fetch_codexglue(out, ["ruby"], source=parquet_source)
    assert again["files"] == first["files"] and again["counts"] == first["counts"]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jsonl")} == before


def test_interrupted_fetch_resumes(tmp_path, parquet_source, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(fetch, "CHUNK", 2)
    calls = {"n": 0}

    def cancel():  # Cancel pressed while the second file (ruby/valid) is being written
        calls["n"] += 1
        return calls["n"] > 5   # 1 before ruby/train, 3 in it, 1 before ruby/valid, then its first chunk
    with pytest.raises(Cancelled):
        fetch.fetch_codexglue(out, ["ruby", "go"], source=parquet_source, cancel=cancel)
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["files"]) == ["ruby/train.jsonl"] and not manifest["all_complete"]
    assert (out / "ruby" / "train.jsonl").is_file() and not (out / "ruby" / "valid.jsonl").exists()
    assert not list(out.rglob("*.tmp"))  # the half-written file was discarded

    opened = []
    real_open = fetch._open_split
    monkeypatch.setattr(fetch, "_open_split", lambda ds, src, local, lang, split, cache=None:
                        opened.append(f"{lang}/{split}") or real_open(ds, src, local, lang, split, cache))
    manifest = fetch.fetch_codexglue(out, ["ruby", "go"], source=parquet_source)
    assert opened == ["ruby/valid", "ruby/test", "go/train", "go/valid", "go/test"]
    assert manifest["all_complete"] and manifest["counts"] == SIZES

    # a deleted file and a damaged file (same size, other bytes) are fetched again, nothing else
    (out / "go" / "valid.jsonl").unlink()
    raw = (out / "ruby" / "test.jsonl").read_bytes()
    (out / "ruby" / "test.jsonl").write_bytes(raw.replace(b"thing", b"THING"))
    (out / "ruby" / ".train.jsonl.stale.tmp").write_text("left by a killed fetch")
    opened.clear()
    manifest = fetch.fetch_codexglue(out, ["ruby", "go"], source=parquet_source)
    assert opened == ["ruby/test", "go/valid"] and manifest["all_complete"]
    assert (out / "ruby" / "test.jsonl").read_bytes() == raw


def test_codexglue_jsonl_and_save_to_disk_sources(tmp_path, datasets_lib):
    # the preprocessed CodeXGLUE dataset/ layout: {lang}/{train,valid,test}.jsonl ("valid" is the validation split)
    src = tmp_path / "dataset"
    (src / "ruby").mkdir(parents=True)
    for split in SIZES["ruby"]:
        with open(src / "ruby" / f"{split}.jsonl", "w") as fh:
            for r in rows_of("ruby", split):
                fh.write(json.dumps({k: v for k, v in r.items() if k != "id"} | {"partition": split}) + "\n")
    m = fetch.fetch_codexglue(tmp_path / "out1", "ruby", source=src)
    assert m["counts"] == {"ruby": SIZES["ruby"]}
    assert (tmp_path / "out1" / "ruby" / "valid.jsonl").read_bytes() == (src / "ruby" / "valid.jsonl").read_bytes()

    # DatasetDict.save_to_disk folders, one per language
    dd = datasets_lib.DatasetDict({HF[s]: datasets_lib.Dataset.from_list(rows_of("go", s)) for s in SIZES["go"]})
    dd.save_to_disk(str(tmp_path / "saved" / "go"))
    m = fetch.fetch_codexglue(tmp_path / "out2", ["go"], source=tmp_path / "saved")
    assert m["counts"] == {"go": SIZES["go"]}

    # a Hub snapshot with its README's `configs` (the code path of the real Hub dataset: load_dataset(id, lang))
    snap = tmp_path / "snapshot"
    yaml = ["---", "configs:"]
    for lang in ("ruby",):
        yaml += [f"- config_name: {lang}", "  data_files:"]
        for s in SIZES[lang]:
            (snap / lang).mkdir(parents=True, exist_ok=True)
            datasets_lib.Dataset.from_list(rows_of(lang, s)).to_parquet(str(snap / lang / f"{HF[s]}-0.parquet"))
            yaml += [f"  - split: {HF[s]}", f"    path: {lang}/{HF[s]}-*"]
    (snap / "README.md").write_text("\n".join(yaml + ["---", "A copy."]) + "\n")
    m = fetch.fetch_codexglue(tmp_path / "out3", ["ruby"], source=snap)
    assert m["counts"] == {"ruby": SIZES["ruby"]}


def test_missing_language_in_local_source(tmp_path, parquet_source):
    with pytest.raises(fetch.FetchError, match=r"php: folder not found \(languages here: go, ruby\)"):
        fetch.fetch_codexglue(tmp_path / "out", ["php"], source=parquet_source)
    with pytest.raises(fetch.FetchError, match="unknown language cobol"):
        fetch.fetch_codexglue(tmp_path / "out", ["cobol"], source=parquet_source)


def test_wrong_format_is_refused(tmp_path, datasets_lib):
    src = tmp_path / "other"
    (src / "ruby").mkdir(parents=True)
    for split in ("train", "valid", "test"):
        (src / "ruby" / f"{split}.jsonl").write_text(json.dumps({"text": "hello", "label": 1}) + "\n")
    with pytest.raises(fetch.FetchError, match=r"not the CodeXGLUE code-to-text format.*has text, label"):
        fetch.fetch_codexglue(tmp_path / "out", ["ruby"], source=src)
    assert not list((tmp_path / "out").rglob("*.jsonl")) and not list((tmp_path / "out").rglob("*.tmp"))


def test_offline_fails_fast_and_says_what_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "cxg"
    t0 = time.monotonic()
    with pytest.raises(fetch.FetchError) as err:
        fetch.fetch_codexglue(out, ["ruby", "python"])
    assert time.monotonic() - t0 < 10
    msg = str(err.value)
    assert "offline mode is on (HF_HUB_OFFLINE=1)" in msg
    assert f"{fetch.HUB_URL}/tree/main/{{lang}}" in msg and "validation-*.parquet" in msg    # what: parquet files
    assert fetch.ORIGINAL_ZIP in msg and "https://zenodo.org/record/7857872/files/{lang}.zip" in msg   # or original
    assert "python preprocess.py" in msg
    assert f"{out.resolve()}/{{lang}}/{{train,valid,test}}.jsonl" in msg                       # where
    assert str(out.resolve() / "ruby" / "train.jsonl") in msg
    assert "ruby 24,927 / 1,400 / 1,261" in msg and "python 251,820 / 13,914 / 14,918" in msg
    assert not list(out.rglob("*.jsonl"))


def test_unreachable_hub_fails_fast(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")   # nothing listens: refused at once
    t0 = time.monotonic()
    with pytest.raises(fetch.FetchError, match=r"cannot reach the Hugging Face Hub \(http://127\.0\.0\.1:9: "):
        fetch.fetch_codexglue(tmp_path / "out", ["ruby"])
    monkeypatch.setattr(fetch, "CONNECT_TIMEOUT", 0.3)
    monkeypatch.setattr(fetch.urllib.request, "urlopen", lambda *a, **k: time.sleep(5))  # a silent black hole
    with pytest.raises(fetch.FetchError, match=r"127\.0\.0\.1:9: no answer within 0\.3 s"):
        fetch.fetch_codexglue(tmp_path / "out", ["ruby"])
    assert time.monotonic() - t0 < 10


def test_complete_hub_fetch_needs_no_network(tmp_path, parquet_source, monkeypatch):
    out = tmp_path / "out"
    fetch.fetch_codexglue(out, ["ruby"], source=parquet_source)
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in manifest["files"].values():   # as if these files had come from the Hub
        entry["source"] = fetch.HUB_DATASET
    (out / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = fetch.fetch_codexglue(out, ["ruby"])
    assert again["complete"] == {"ruby": True}
