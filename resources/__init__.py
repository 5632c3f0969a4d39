"""Data files shipped with cramgui (installed as the package `engine.resources`): presets/*.toml,
reference/published_bleu.csv. Read them with engine.contract.config.resource(...)."""
