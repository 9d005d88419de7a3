"""Where the packaged Hydra configs live: the one place every command that composes configs asks.

The repository keeps the config tree at the top level (`conf/`); the build maps it into the package as
`transformer_lab/conf` (setup.py), so three layouts work:

- a wheel or `pip install .` / `pip install git+URL`: the tree is package data, found via importlib.resources;
- an editable install, or a source tree on `PYTHONPATH=src`: the checkout's own `conf/` next to `src/`.

The packaged copy wins when both exist. Users add their own configs on top through Hydra's search path
(`--config-dir DIR` or `hydra.searchpath=[file://DIR]`; README "Your own experiments").
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGE = "transformer_lab"


def config_dir() -> Path:
    """The directory holding `train.yaml`, `evaluate.yaml` and the config groups."""
    packaged = files(PACKAGE) / "conf"
    if isinstance(packaged, Path) and (packaged / "train.yaml").is_file():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "conf"  # src/transformer_lab/config/directory.py -> repo root
    if (checkout / "train.yaml").is_file():
        return checkout
    raise FileNotFoundError(
        f"transformer_lab's configs are missing: neither {packaged} (installed package) nor {checkout} "
        "(source checkout) holds train.yaml. Reinstall the package (pip install transformer_lab / pip install .)"
    )


CONFIG_DIR = str(config_dir())
