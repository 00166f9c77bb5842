"""Where the project's files and caches are: the one place that knows the repository layout."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NETWORK_CONFIG = REPO_ROOT / "network-config"
# The chaincode the network deploys; another Go chaincode with the same run contract may stand in.
CHAINCODE_DIR = Path(os.environ.get("TDSES_CHAINCODE_DIR", REPO_ROOT / "chaincode"))

# Slow builds (the Fabric toolchain) are cached here, keyed by version.
CACHE_DIR = Path(os.environ.get("TDSES_CACHE_DIR", Path.home() / ".cache" / "tdses"))

# The default state directory of `tdses network`.
DEFAULT_STATE_DIR = Path(os.environ.get("TDSES_STATE_DIR", REPO_ROOT / ".state" / "network"))
