"""`cram export model|tensorboard|metrics`: a run's results in formats other tools read.

  cram export model RUN_DIR OUT [--checkpoint best|last] [--force]   a Hugging Face model folder with a model card
  cram export tensorboard RUN_DIR... [--out DIR]                      TensorBoard event files from events.jsonl
  cram export metrics RUN_DIR...                                      RUN_DIR/metrics.csv from events.jsonl

`add_export_parser(subparsers)` registers the commands on `cram`'s parser; each sets `func(args) -> exit code`.
Torch and tensorboard are imported only by the command that needs them.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _fail(message: str) -> int:
    print(f"cram: {message}", file=sys.stderr)
    return 2


def cmd_export_model(args) -> int:
    from .export_model import ExportError, export_model
    from .model import ModelError

    try:
        out = export_model(Path(args.run_dir), Path(args.out), checkpoint=args.checkpoint, force=args.force)
    except (ExportError, ModelError, OSError) as e:
        return _fail(str(e))
    from .model import META_FILE

    try:
        code2nl = json.loads((out / META_FILE).read_text()).get("decoder") == "code2nl"
    except (OSError, ValueError, AttributeError):
        code2nl = False
    loader = (f"engine.model.load({str(out)!r}) (the original code2nl decoder: plain transformers cannot load it)"
              if code2nl else f"AutoModelForSeq2SeqLM.from_pretrained({str(out)!r})")
    print(f"wrote {out}: load it with {loader}; upload it with `hf upload USER/NAME {out}`")
    return 0


def tensorboard_dirs(run_dirs: list[Path], out: Path | None) -> list[Path | None]:
    """The log folder of each run: OUT/<run folder name> (made unique) with --out, else None (RUN_DIR/tensorboard)."""
    if out is None:
        return [None] * len(run_dirs)
    from .contract.rundir import safe_name

    names: list[Path | None] = []
    used: set[str] = set()
    for d in run_dirs:
        base = safe_name(Path(d).resolve().name)
        name, k = base, 2
        while name in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name)
        names.append(out / name)
    return names


def cmd_export_tensorboard(args) -> int:
    from .mirrors import MirrorUnavailable, export_tensorboard

    run_dirs = [Path(d) for d in args.run_dirs]
    out = Path(args.out) if args.out else None
    code = 0
    for run_dir, logdir in zip(run_dirs, tensorboard_dirs(run_dirs, out)):
        try:
            where, n = export_tensorboard(run_dir, logdir)
        except MirrorUnavailable as e:
            return _fail(str(e))
        except (OSError, RuntimeError) as e:
            code = _fail(f"{run_dir}: {e}")
            continue
        print(f"{run_dir}: {n} scalars -> {where}")
    if code == 0:
        import os

        shown = out if out is not None else os.path.commonpath([str(d.resolve()) for d in run_dirs])
        print(f"view with: tensorboard --logdir {shown}")
    return code


def cmd_export_metrics(args) -> int:
    from .mirrors import export_metrics

    code = 0
    for run_dir in args.run_dirs:
        try:
            path, rows = export_metrics(Path(run_dir))
        except (OSError, RuntimeError) as e:
            code = _fail(f"{run_dir}: {e}")
            continue
        print(f"{path}: {rows} rows")
    return code


def add_export_parser(subparsers) -> argparse.ArgumentParser:
    """Register `cram export ...` on the subparsers of `cram`'s parser."""
    x = subparsers.add_parser("export", help="a run's model, metrics or curves in formats other tools read "
                              "(Hugging Face folder, TensorBoard, CSV)")
    xs = x.add_subparsers(dest="export_cmd", required=True)

    m = xs.add_parser("model", help="a clean Hugging Face model folder (safetensors, tokenizer, generation "
                      "config, model card) that `hf upload` / upload_folder take as is")
    m.add_argument("run_dir")
    m.add_argument("out", help="the folder to write (must not exist or be empty, unless --force)")
    m.add_argument("--checkpoint", default="best", choices=["best", "last"],
                   help="which checkpoint (default best; a run without one exports its last)")
    m.add_argument("--force", action="store_true", help="replace OUT if it exists")
    m.set_defaults(func=cmd_export_model)

    t = xs.add_parser("tensorboard", help="TensorBoard event files from events.jsonl (losses, LR, throughput, "
                      "dev and test BLEU, the config as hparams, samples as text)")
    t.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    t.add_argument("--out", help="write OUT/<run name>/ for each run (default: RUN_DIR/tensorboard/)")
    t.set_defaults(func=cmd_export_tensorboard)

    c = xs.add_parser("metrics", help="RUN_DIR/metrics.csv (one row per step and dev evaluation) from events.jsonl")
    c.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    c.set_defaults(func=cmd_export_metrics)
    return x


def main(argv=None) -> int:
    """`python -m engine.export_cli model|tensorboard|metrics ...` (the same commands as `cram export`)."""
    p = argparse.ArgumentParser(prog="cram")
    sub = p.add_subparsers(dest="cmd", required=True)
    add_export_parser(sub)
    args = p.parse_args(["export", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
