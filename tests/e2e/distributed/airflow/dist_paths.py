"""Put the helpers this suite shares on ``sys.path``: the single-machine Airflow e2e helpers
(``tests/e2e/airflow``) and the service starters (``tests/e2e/distributed``).

Imported first by every module here (``import dist_paths``), before those helpers. Folders, not
packages: ``tests/e2e/airflow`` as a package would shadow the real ``airflow``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE.parent, HERE.parents[1] / "airflow"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
