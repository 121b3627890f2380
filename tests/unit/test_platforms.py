"""The supported platforms are listed once (roles/platform/vars/main.yml); every other place
that names platforms agrees with that list."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SUPPORTED = yaml.safe_load((ROOT / "roles" / "platform" / "vars" / "main.yml").read_text(encoding="utf-8"))[
    "__platform_supported"]
ROLES = sorted(p.parent.parent.name for p in (ROOT / "roles").glob("*/meta/main.yml"))


def codenames(distribution: str) -> list[str]:
    return [p["codename"] for p in SUPPORTED if p["distribution"] == distribution]


@pytest.mark.parametrize("role", ROLES)
def test_role_meta_lists_the_supported_platforms(role):
    meta = yaml.safe_load((ROOT / "roles" / role / "meta" / "main.yml").read_text(encoding="utf-8"))
    listed = {entry["name"]: entry["versions"] for entry in meta["galaxy_info"]["platforms"]}
    assert listed == {"Ubuntu": codenames("Ubuntu"), "Debian": codenames("Debian")}


def test_default_scenario_converges_every_supported_platform():
    scenario = yaml.safe_load((ROOT / "molecule" / "default" / "molecule.yml").read_text(encoding="utf-8"))
    images = sorted(platform["image"].rpartition(":")[2] for platform in scenario["platforms"])
    assert images == sorted(p["image"] for p in SUPPORTED)


def test_test_bed_builds_every_supported_platform():
    listed = subprocess.run([ROOT / "scripts" / "testbed-image.sh", "--list"], capture_output=True, text=True,
                            check=True).stdout.split()
    assert sorted(listed) == sorted(p["image"] for p in SUPPORTED)


def test_readme_names_the_supported_platforms():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if line.startswith("Supported platforms:"))
    named = re.findall(r"(Ubuntu|Debian) ([0-9]+(?:\.[0-9]+)?)", line)
    assert sorted(named) == sorted((p["distribution"], p["version"]) for p in SUPPORTED), line
