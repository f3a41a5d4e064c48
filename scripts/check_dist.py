"""Check what `make dist` built, beyond `twine check`: the wheel's contents and its metadata.

Usage: python scripts/check_dist.py DIST_DIR

`twine check --strict` validates the metadata fields and that the long description renders; this
checks what twine does not look at: the wheel holds the four packages with their `py.typed`
markers, the entry points the engines discover us by (Airflow's `apache_airflow_provider`,
Prefect's `prefect.collections`), the console script and pytest plugin, the LICENSE, no tests;
the version is the one of `cyberdesk_core/_version.py`; the sdist carries LICENSE and the
sources the wheel is built from. Standard library only, so any Python runs it. Exits 1 and says
every problem found.
"""

from __future__ import annotations

import configparser
import re
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

PACKAGES = ("cyberdesk_core", "cyberdesk_emulator", "cyberdesk_airflow", "cyberdesk_prefect")
ENTRY_POINTS = {
    "apache_airflow_provider": {
        "provider_info": "cyberdesk_airflow.get_provider_info:get_provider_info"
    },
    "prefect.collections": {"cyberdesk_prefect": "cyberdesk_prefect"},
    "console_scripts": {"cyberdesk-emulator": "cyberdesk_emulator.cli:main"},
    "pytest11": {"cyberdesk_emulator": "cyberdesk_emulator.pytest_plugin"},
}
REQUIRES_PYTHON = ">=3.11"
LICENSE_EXPRESSION = "Apache-2.0"
ROOT = Path(__file__).resolve().parent.parent


def source_version() -> str:
    """The version written in `cyberdesk_core/_version.py`, read without importing the package."""
    text = (ROOT / "cyberdesk_core" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise SystemExit("check-dist: no __version__ in cyberdesk_core/_version.py")
    return match.group(1)


def check_wheel(wheel: Path, version: str) -> list[str]:
    """Problems with the wheel's file list, entry points and metadata (empty when it is right)."""
    problems: list[str] = []
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = f"cyberdesk_orchestration-{version}.dist-info"
        for package in PACKAGES:
            for marker in ("__init__.py", "py.typed"):
                if f"{package}/{marker}" not in names:
                    problems.append(f"wheel lacks {package}/{marker}")
        top_level = {name.split("/", 1)[0] for name in names}
        unexpected = top_level - set(PACKAGES) - {dist_info}
        if unexpected:
            problems.append(f"wheel holds unexpected top-level entries: {sorted(unexpected)}")
        tests = sorted(
            name
            for name in names
            if re.search(r"(^|/)(tests?/|test_[^/]*\.py$|conftest\.py$)", name)
        )
        if tests:
            problems.append(f"wheel holds tests: {tests[:5]}")
        if f"{dist_info}/licenses/LICENSE" not in names:
            problems.append("wheel lacks the LICENSE file in its dist-info")
        problems += _check_entry_points(archive.read(f"{dist_info}/entry_points.txt").decode())
        metadata = HeaderParser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
    expected = {
        "Name": "cyberdesk-orchestration",
        "Version": version,
        "Requires-Python": REQUIRES_PYTHON,
        "License-Expression": LICENSE_EXPRESSION,
        "Description-Content-Type": "text/markdown",
    }
    for field, value in expected.items():
        if metadata.get(field) != value:
            problems.append(f"wheel METADATA {field} is {metadata.get(field)!r}, not {value!r}")
    return problems


def _check_entry_points(text: str) -> list[str]:
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # names are case-sensitive
    parser.read_string(text)
    problems = []
    for group, entries in ENTRY_POINTS.items():
        for name, target in entries.items():
            found = parser.get(group, name, fallback=None)
            if found != target:
                problems.append(f"entry point [{group}] {name} is {found!r}, not {target!r}")
    return problems


def check_sdist(sdist: Path, version: str) -> list[str]:
    """Problems with the sdist: the files a wheel is rebuilt from and the LICENSE."""
    prefix = f"cyberdesk_orchestration-{version}"
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
    needed = ["LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "PKG-INFO"]
    needed += [f"{package}/__init__.py" for package in PACKAGES]
    return [f"sdist lacks {name}" for name in needed if f"{prefix}/{name}" not in names]


def main(argv: list[str]) -> int:
    """Check the one wheel and one sdist in DIST_DIR; print each problem, return 1 if any."""
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    dist = Path(argv[1])
    version = source_version()
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"check-dist: expected one wheel and one sdist in {dist}", file=sys.stderr)
        return 1
    problems = check_wheel(wheels[0], version) + check_sdist(sdists[0], version)
    for problem in problems:
        print(f"check-dist: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"check-dist: {wheels[0].name} and {sdists[0].name} are complete (version {version})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
