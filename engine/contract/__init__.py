"""What the engine and the console share, and nothing else (pure Python: no torch, no Qt).

  config    the run configuration tree: fields with their metadata, validation, TOML/JSON load/save, presets
  events    the event records the engine writes to events.jsonl / stdout, and their reader
  rundir    the run-directory layout, atomic writes, readers, the one `run_status()`
  schedule  the learning-rate schedule (vectorised): the engine trains with it, the console draws it
  launch    the `cram train ...` and torchrun command lines
  slurm     the cluster job script
  compare   the comparison table of several runs (`cram compare` and the console's Compare view)
  paths     default folders, languages and splits
  fmt       h:mm:ss and other formatting shared by `cram`'s progress line and the console
"""


def version() -> str:
    """The installed cramgui version (`cram --version`, `cramgui --version`)."""
    from importlib import metadata

    try:
        return metadata.version("cramgui")
    except metadata.PackageNotFoundError:
        return "0+unknown (not installed)"
