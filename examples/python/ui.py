"""Starts the mltrack UI as a CML / CDSW application.

Point the Application's script at this file. CML and CDSW give applications a
port in CDSW_APP_PORT (CML) or CDSW_READONLY_PORT (CDSW) and proxy the app's
subdomain to 127.0.0.1 on that port; `mltrack ui` reads both variables itself.
The subdomain reaches the server as the Host header, so it must be allowed.

Environment: MLTRACK_BIN (default: `mltrack` on PATH, else ../../bin/mltrack),
MLFLOW_BACKEND_STORE_URI (default sqlite:///mlflow.db in the project
directory), MLFLOW_SERVER_ALLOWED_HOSTS (default '*': the CML proxy decides
who reaches the app).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def main() -> None:
    binary = os.environ.get("MLTRACK_BIN") or shutil.which("mltrack")
    if not binary:
        local = Path(__file__).resolve().parents[2] / "bin" / "mltrack"
        binary = str(local) if local.exists() else None
    if not binary:
        sys.exit("ui.py: no mltrack binary; run `make build` in the repository or set MLTRACK_BIN")
    if not (os.environ.get("CDSW_APP_PORT") or os.environ.get("CDSW_READONLY_PORT")):
        print("ui.py: neither CDSW_APP_PORT nor CDSW_READONLY_PORT is set; mltrack uses its default port", file=sys.stderr)
    os.environ.setdefault("MLFLOW_SERVER_ALLOWED_HOSTS", "*")
    os.execv(binary, [binary, "ui", "--host", "127.0.0.1"])


if __name__ == "__main__":
    main()
