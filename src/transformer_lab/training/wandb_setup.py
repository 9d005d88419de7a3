"""W&B modes and run lifecycle: offline unless credentials exist, one run per job, failed runs marked."""

from __future__ import annotations

import netrc
import os
from pathlib import Path

WANDB_HOST_KEYS = ("api.wandb.ai",)


def has_wandb_credentials() -> bool:
    """True when an API key is configured through the environment or `wandb login` (~/.netrc)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc_path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        hosts = netrc.netrc(netrc_path).hosts
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    base_url = os.environ.get("WANDB_BASE_URL", "")
    return any(host in hosts for host in WANDB_HOST_KEYS) or any(
        host and host in base_url for host in hosts
    )


def resolve_wandb_mode(configured: str | None) -> str:
    """`auto` (the default) -> WANDB_MODE if set, else online with credentials, else offline."""
    if configured not in (None, "auto"):
        if configured not in ("online", "offline", "disabled"):
            raise ValueError(f"logger.wandb.mode must be auto, online, offline or disabled, got {configured!r}")
        return configured
    env_mode = os.environ.get("WANDB_MODE")
    if env_mode:
        return "offline" if env_mode == "dryrun" else env_mode
    return "online" if has_wandb_credentials() else "offline"


def finish_wandb_run(exit_code: int) -> None:
    """Finish the current W&B run, if any: exit_code 0 marks it finished, anything else failed."""
    try:
        import wandb
    except ImportError:  # pragma: no cover - wandb is a dependency
        return
    if wandb.run is not None:
        wandb.finish(exit_code=exit_code)
