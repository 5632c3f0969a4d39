"""CodeXGLUE code-to-text in one step: `fetch_codexglue` (`cram data fetch codexglue`).

Reads the Hugging Face dataset `google/code_x_glue_ct_code_to_text` (one config per language, splits train /
validation / test; the paper's splits) through the `datasets` library, streaming, and writes the CodeXGLUE layout:

  OUT/{lang}/{train,valid,test}.jsonl   one JSON object a line, the original fields in their original order
                                        (repo, path, func_name, original_string, language, code, code_tokens,
                                        docstring, docstring_tokens, sha, url, partition); the hub's `id` dropped
  OUT/manifest.json                     source, counts per language and split, sha256 and size per file,
                                        complete flags per file and per language

Expected sizes (train / valid / test): Ruby 24,927 / 1,400 / 1,261; JavaScript 58,025 / 3,885 / 3,291; Go 167,288 /
7,325 / 8,122; Python 251,820 / 13,914 / 14,918; Java 164,923 / 5,183 / 10,955; PHP 241,241 / 12,982 / 14,014.

Each file is written to a temp file beside it and renamed when complete, then recorded in the manifest, so a
re-run skips complete files (their sha256 is checked against the manifest) and an interrupted or cancelled fetch
resumes with the first incomplete file. A fetch that needs the network checks that the Hub is reachable first (a
few seconds at most) and otherwise fails with a FetchError that says what to download by hand and where to put it.

`source` may also be a local folder, read through the same code path (no network):
  - a copy of the Hub repository: SRC/{lang}/{train,validation,test}-*.parquet (with or without its README.md),
  - one folder per language with {train,valid|validation,test}.{jsonl,json,parquet,csv} files (for instance the
    preprocessed CodeXGLUE dataset/ folder, or another fetch's OUT),
  - `DatasetDict.save_to_disk` folders SRC/{lang}/ (dataset_dict.json).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from collections.abc import Callable

from .contract.paths import CODEXGLUE_COUNTS as EXPECTED_COUNTS
from .contract.paths import CODEXGLUE_HUB_DATASET as HUB_DATASET
from .contract.paths import LANGUAGES, SPLITS
from .contract.rundir import atomic_write_json
from .tasks import CancelCheck, Cancelled, Progress

HUB_URL = f"https://huggingface.co/datasets/{HUB_DATASET}"
ORIGINAL_ZIP = "https://github.com/microsoft/CodeXGLUE/raw/main/Code-Text/code-to-text/dataset.zip"
CODESEARCHNET_ZIP = "https://zenodo.org/record/7857872/files/{lang}.zip"
KIND = "codexglue-code-to-text"
FETCH_VERSION = 1
HF_SPLITS = {"train": "train", "valid": "validation", "test": "test"}
FIELDS = ("repo", "path", "func_name", "original_string", "language", "code", "code_tokens", "docstring",
          "docstring_tokens", "sha", "url")
DROPPED_FIELDS = frozenset({"id", "partition"})
CONNECT_TIMEOUT = 3.0      # seconds to reach the Hub before giving up
CHUNK = 1000               # rows between progress reports and cancel checks
_TRUE = {"1", "on", "yes", "true"}


class FetchError(RuntimeError):
    """The data cannot be fetched. The message says why, and what to download by hand and where to put it."""


# -- messages ---------------------------------------------------------------------------------------------------
def manual_instructions(out_dir, languages) -> str:
    """What to download by hand, and where to put it, for `languages` fetched into OUT_DIR."""
    out = Path(out_dir).expanduser().resolve()
    langs = list(languages)
    first = langs[0] if langs else "ruby"
    names = ",".join(langs)
    expected = "; ".join(f"{lang} " + " / ".join(f"{EXPECTED_COUNTS[lang][s]:,}" for s in SPLITS) for lang in langs)
    return (
        "Get the data by hand on a machine with network access, then bring it here. Either\n"
        f"  (a) the Hugging Face parquet files: from {HUB_URL}/tree/main/{{lang}} download {{lang}}/train-*.parquet, "
        f"validation-*.parquet and test-*.parquet for {names}; put them in SRC/{{lang}}/ (e.g. SRC/{first}/) and run "
        f"`cram data fetch codexglue --languages {names} --source SRC --out {out}`; or\n"
        f"  (b) the original release: download {ORIGINAL_ZIP} and unzip it; in its dataset/ folder download and unzip "
        f"{CODESEARCHNET_ZIP.format(lang='{lang}')} for each language, run `python preprocess.py`, then copy "
        f"dataset/{{lang}}/{{train,valid,test}}.jsonl to {out}/{{lang}}/{{train,valid,test}}.jsonl "
        f"(e.g. {out / first / 'train.jsonl'}), or pass that dataset/ folder as --source.\n"
        f"Expected examples (train / valid / test): {expected}.")


def _offline_reason() -> str | None:
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return f"offline mode is on ({var}={os.environ[var]})"
    return None


def hub_reachable(timeout: float | None = None) -> str | None:
    """None when the Hub ($HF_ENDPOINT or https://huggingface.co) answers an HTTP request for the dataset within
    `timeout` seconds (any HTTP status counts as an answer), else why not. An HTTP request, not just a TCP
    connection, because sandboxes and proxies may accept any connection; it runs in a thread, so a hanging name
    lookup cannot block either."""
    why = _offline_reason()
    if why:
        return why
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    url = f"{endpoint}/api/datasets/{HUB_DATASET}"
    result: list = []

    def attempt():
        req = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "cramgui-fetch"})
        try:
            urllib.request.urlopen(req, timeout=timeout).close()
            result.append(None)
        except urllib.error.HTTPError:
            result.append(None)   # the server answered
        except Exception as e:  # noqa: BLE001 - URLError, OSError, ValueError (bad URL), ssl errors ...
            reason = getattr(e, "reason", None) or e
            result.append(f"{endpoint}: {getattr(reason, 'strerror', None) or reason}")

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    if not result:
        return f"{endpoint}: no answer within {timeout:g} s"
    return result[0]


# -- reading the source -----------------------------------------------------------------------------------------
def _import_datasets(out_dir, languages):
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "30")
    try:
        import datasets
    except ImportError:
        raise FetchError("the `datasets` package is not installed (pip install datasets, or pip install "
                         "'cramgui[fetch]').\n" + manual_instructions(out_dir, languages)) from None
    try:
        datasets.disable_progress_bars()
    except AttributeError:  # pragma: no cover - old datasets
        pass
    return datasets


def _is_local(source) -> bool:
    return isinstance(source, os.PathLike) or Path(str(source)).expanduser().exists() or str(source).startswith(
        (".", "/", "~"))


def _open_split(datasets, source, local: bool, lang: str, split: str, cache_dir: str | None = None):
    """(iterable of row dicts, number of rows or 0 when unknown). Streaming: rows are read as they are written,
    and `cache_dir` only receives lock files."""
    hf_split = HF_SPLITS[split]
    if not local:
        ds = datasets.load_dataset(str(source), lang, split=hf_split, streaming=True, cache_dir=cache_dir)
        return ds, _num_examples(ds, hf_split) or EXPECTED_COUNTS[lang][split]
    root = Path(source).expanduser()
    folder = root / lang
    if (folder / "dataset_dict.json").is_file():
        dd = datasets.load_from_disk(str(folder))
        ds = dd[hf_split] if hf_split in dd else dd[split]
        return ds, len(ds)
    readme = root / "README.md"
    if readme.is_file() and "config_name:" in readme.read_text(encoding="utf-8", errors="replace"):
        ds = datasets.load_dataset(str(root), lang, split=hf_split, streaming=True, cache_dir=cache_dir)
    else:
        if not folder.is_dir():
            have = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
            raise FetchError(f"{folder}: folder not found (languages here: {', '.join(have) or 'none'}). Expected "
                             f"SRC/{{lang}}/ with train, valid or validation, and test files (.parquet, .jsonl, .json)")
        ds = datasets.load_dataset(str(root), data_dir=lang, split=hf_split, streaming=True, cache_dir=cache_dir)
    return ds, _num_examples(ds, hf_split)


def _num_examples(ds, hf_split: str) -> int:
    try:
        return int(ds.info.splits[hf_split].num_examples or 0)
    except (AttributeError, KeyError, TypeError):
        return 0


def _row(obj: dict, split: str) -> dict:
    """A source row in the original jsonl's field order, `partition` set to our split name."""
    row = {k: obj[k] for k in FIELDS if k in obj}
    row.update((k, v) for k, v in obj.items() if k not in row and k not in DROPPED_FIELDS)
    row["partition"] = split
    return row


def _check_format(obj) -> None:
    if not isinstance(obj, dict) or not all(isinstance(obj.get(k), list) for k in ("code_tokens", "docstring_tokens")):
        have = ", ".join(obj) if isinstance(obj, dict) else type(obj).__name__
        raise FetchError(f"not the CodeXGLUE code-to-text format: rows need `code_tokens` and `docstring_tokens` "
                         f"lists (this source has {have})")


# -- manifest ---------------------------------------------------------------------------------------------------
def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(out_dir) -> dict:
    """The fetch manifest of OUT_DIR, or a fresh one."""
    try:
        m = json.loads((Path(out_dir) / "manifest.json").read_text(encoding="utf-8"))
        if isinstance(m, dict) and m.get("kind") == KIND and isinstance(m.get("files"), dict):
            return m
    except (OSError, ValueError):
        pass
    return {"kind": KIND, "fetch_version": FETCH_VERSION, "files": {}}


def _summarise(manifest: dict) -> dict:
    files = manifest["files"]
    langs = [lang for lang in LANGUAGES if any(f.get("language") == lang for f in files.values())]
    manifest["languages"] = langs
    manifest["counts"] = {lang: {s: files[f"{lang}/{s}.jsonl"]["n"] for s in SPLITS
                                 if files.get(f"{lang}/{s}.jsonl", {}).get("complete")} for lang in langs}
    manifest["complete"] = {lang: all(files.get(f"{lang}/{s}.jsonl", {}).get("complete") for s in SPLITS)
                            for lang in langs}
    manifest["all_complete"] = bool(langs) and all(manifest["complete"].values())
    manifest["updated"] = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    return manifest


def is_complete(out_dir, rel: str, entry: dict | None, source: str, verify: bool = True) -> bool:
    """Whether OUT_DIR/rel is a complete fetch of `source` (its size and, with `verify`, sha256 as recorded)."""
    if not entry or not entry.get("complete") or entry.get("source") != source:
        return False
    p = Path(out_dir) / rel
    try:
        if p.stat().st_size != entry.get("bytes"):
            return False
    except OSError:
        return False
    return not verify or sha256_of(p) == entry.get("sha256")


# -- writing one file -------------------------------------------------------------------------------------------
def _write_split(rows, path: Path, split: str, on_chunk: Callable[[int], None]) -> tuple[int, int, str]:
    """Stream rows into a temp file beside `path`, fsync, rename; returns (rows, bytes, sha256). `on_chunk(n)` is
    called every CHUNK rows (it may raise Cancelled); the temp file is removed on any error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)   # left by a killed fetch
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    h, n, size = hashlib.sha256(), 0, 0
    try:
        with os.fdopen(fd, "wb") as fh:
            for obj in rows:
                if n == 0:
                    _check_format(obj)
                line = (json.dumps(_row(obj, split)) + "\n").encode("utf-8")
                fh.write(line)
                h.update(line)
                size += len(line)
                n += 1
                if n % CHUNK == 0:
                    on_chunk(n)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n, size, h.hexdigest()


# -- the entry point --------------------------------------------------------------------------------------------
def fetch_codexglue(out_dir, languages=None, source=None, progress: Progress | None = None,
                    cancel: CancelCheck | None = None) -> dict:
    """Fetch CodeXGLUE code-to-text for `languages` (default: all six) into OUT_DIR and return the manifest.

    `source`: None for the Hub dataset google/code_x_glue_ct_code_to_text, another Hub id, or a local folder (see
    the module docstring). progress(rows_done, rows_total, message) is called per file and every 1,000 rows
    (rows_total 0 when unknown); cancel() returning True stops at the next 1,000-row chunk: the file being written
    is discarded, complete files are kept and recorded, and engine.tasks.Cancelled is raised. Raises FetchError
    (with what to download by hand and where to put it) when the Hub cannot be reached or the source read."""
    out = Path(out_dir).expanduser()
    langs = list(LANGUAGES) if not languages else [languages] if isinstance(languages, str) else list(languages)
    bad = [lang for lang in langs if lang not in EXPECTED_COUNTS]
    if bad:
        raise FetchError(f"unknown language {', '.join(bad)}; choose from {', '.join(LANGUAGES)}")
    langs = [lang for lang in LANGUAGES if lang in langs]
    local = source is not None and _is_local(source)
    src = str(Path(source).expanduser().resolve()) if local else str(source or HUB_DATASET)
    if local and not Path(src).is_dir():
        raise FetchError(f"{src}: source folder not found")
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out)
    manifest.update(kind=KIND, fetch_version=FETCH_VERSION, source=src, dataset=HUB_DATASET)
    todo = []
    for lang in langs:
        for split in SPLITS:
            rel = f"{lang}/{split}.jsonl"
            if not is_complete(out, rel, manifest["files"].get(rel), src):
                todo.append((lang, split, rel))
    if not todo:
        if progress:
            progress(1, 1, "all files complete")
        return _summarise(manifest)
    if not local:
        why = hub_reachable()
        if why:
            raise FetchError(f"cannot reach the Hugging Face Hub ({why}), so CodeXGLUE code-to-text cannot be "
                             f"fetched from {src}.\n" + manual_instructions(out, langs))
    datasets = _import_datasets(out, langs)
    with tempfile.TemporaryDirectory(prefix="cram-fetch-") as cache_dir:
        return _fetch(datasets, out, src, local, langs, todo, manifest, progress, cancel, cache_dir)


def _fetch(datasets, out: Path, src: str, local: bool, langs, todo, manifest: dict, progress, cancel,
           cache_dir: str) -> dict:
    total = 0 if local else sum(EXPECTED_COUNTS[lang][split] for lang, split, _ in todo)   # 0: unknown
    done = 0
    for i, (lang, split, rel) in enumerate(todo):
        if cancel is not None and cancel():
            raise Cancelled(f"fetch cancelled before {rel}")
        t0 = time.monotonic()
        label = f"{rel} ({i + 1}/{len(todo)})"
        try:
            rows, n_expected = _open_split(datasets, src, local, lang, split, cache_dir)
        except FetchError:
            raise
        except Exception as e:  # noqa: BLE001 - every failure of the source becomes one clear message
            raise _source_error(e, src, local, out, langs, lang, split) from e
        if progress:
            progress(done, total, f"fetching {label}")

        def on_chunk(n: int, _base=done, _label=label, _rel=rel) -> None:
            if cancel is not None and cancel():
                raise Cancelled(f"fetch cancelled in {_rel} (complete files kept)")
            if progress:
                progress(_base + n, total, f"fetching {_label}")

        try:
            n, size, digest = _write_split(rows, out / rel, split, on_chunk)
        except (Cancelled, KeyboardInterrupt):
            raise
        except FetchError as e:
            raise FetchError(f"{src} ({lang} {HF_SPLITS[split]}): {e}") from None
        except Exception as e:  # noqa: BLE001
            raise _source_error(e, src, local, out, langs, lang, split) from e
        done += n
        expected = EXPECTED_COUNTS[lang][split]
        manifest["files"][rel] = {
            "language": lang, "split": split, "source": src, "n": n, "bytes": size, "sha256": digest,
            "complete": True, "expected": expected, "matches_expected": n == expected,
            "source_rows": n_expected or None, "seconds": round(time.monotonic() - t0, 2),
        }
        atomic_write_json(out / "manifest.json", _summarise(manifest))
    if progress:
        progress(done, total or done, "done")
    manifest = _summarise(manifest)
    atomic_write_json(out / "manifest.json", manifest)
    return manifest


def _source_error(e: Exception, src: str, local: bool, out: Path, langs, lang: str, split: str) -> FetchError:
    what = f"{e.__class__.__name__}: {e}".strip()
    if local:
        return FetchError(f"cannot read {lang} {HF_SPLITS[split]} from {src} ({what}). Expected SRC/{lang}/ with "
                          f"train, valid or validation, and test files (.parquet, .jsonl, .json), a copy of "
                          f"{HUB_URL}, or save_to_disk folders.")
    return FetchError(f"fetching {lang} {HF_SPLITS[split]} from the Hugging Face Hub ({src}) failed: {what}\n"
                      + manual_instructions(out, langs))
