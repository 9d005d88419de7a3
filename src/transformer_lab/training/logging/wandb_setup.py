"""W&B modes and run lifecycle: offline unless credentials exist, one run per job, failed runs marked."""

from __future__ import annotations

import logging
import netrc
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

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


class WandbConnectionError(RuntimeError):
    pass


def open_wandb_logger(make_logger: Callable[[str, Any], Any], mode: str, init_timeout: float,
                      fallback_offline: bool) -> Any:
    """The W&B logger of a job, its run started at once so a missing server is found before training.

    Online, `wandb.init` waits at most `init_timeout` seconds for the server. If it cannot be reached, the
    job stops with what to do, or (`logger.wandb.fallback_offline=true`) logs offline for `wandb sync` later.
    `make_logger(mode, settings)` builds the logger.
    """
    import wandb

    settings = wandb.Settings(init_timeout=init_timeout)
    logger = make_logger(mode, settings)
    if mode != "online":
        return logger
    try:
        logger.experiment  # noqa: B018 - calls wandb.init (rank 0 only)
    except wandb.errors.CommError as error:
        detail = str(error).splitlines()[0]
        problem = f"W&B could not reach its server within {init_timeout:g} s ({detail})."
        if not fallback_offline:
            raise WandbConnectionError(
                f"{problem} To train without a connection, log offline: WANDB_MODE=offline (or "
                "logger.wandb.mode=offline), and upload the run later with `wandb sync <run dir>/wandb/offline-run-*`; "
                "or set logger.wandb.fallback_offline=true to do this automatically when the server is unreachable."
            ) from None
        log.warning("%s Logging offline instead (logger.wandb.fallback_offline=true); upload later with "
                    "`wandb sync <run dir>/wandb/offline-run-*`.", problem)
        wandb.teardown()  # the failed attempt still holds the run id in W&B's service process
        logger = make_logger("offline", settings)
        logger.experiment  # noqa: B018
    return logger
