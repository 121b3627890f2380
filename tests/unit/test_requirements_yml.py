"""requirements.yml: the collections the project uses, at the versions the pinned ansible ships.

A controller with ansible-core alone installs the collections from requirements.yml; `make setup`
takes them from the `ansible` package that requirements.txt pins. These tests keep the two in step:
every version in requirements.yml is the one the installed (pinned) ansible package ships, and every
collection that a YAML file of the project (or ansible.cfg, a template, molecule's driver) names
by its fully qualified name is listed, and nothing else.
"""

from __future__ import annotations

import configparser
import functools
import importlib.metadata
import importlib.util
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS_YML = ROOT / "requirements.yml"
SKIPPED_DIRS = {".git", ".venv", ".testbed", ".bench", ".cache", "__pycache__"}
FQCN = re.compile(r"\b([a-z0-9_]+)\.([a-z0-9_]+)\.([a-z0-9_]+)\b")
JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)

# Names that a YAML file compares against but never loads: roles/firewall/vars/main.yml lists the
# connection plugins that reach a host over SSH, to compare ansible_connection with.
NAMED_NOT_LOADED = {"ansible.netcommon.paramiko_ssh", "community.general.mitogen_ssh"}


class _AnyTagLoader(yaml.SafeLoader):
    """A safe loader that reads Ansible's own tags (!unsafe, !vault, ...) as plain values."""


def _construct_any(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)


_AnyTagLoader.add_multi_constructor("!", _construct_any)


@functools.cache
def shipped_collections() -> dict[str, str]:
    """Each collection the installed ansible package ships, with its version from MANIFEST.json."""
    try:
        dist = importlib.metadata.distribution("ansible")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("the ansible package is not installed: run `make setup`")
    root = Path(dist.locate_file("ansible_collections"))
    versions = {}
    for manifest in root.glob("*/*/MANIFEST.json"):
        info = json.loads(manifest.read_text(encoding="utf-8"))["collection_info"]
        versions[f"{info['namespace']}.{info['name']}"] = info["version"]
    assert versions, f"no collections under {root}"
    return versions


def required_collections() -> dict[str, str]:
    data = yaml.safe_load(REQUIREMENTS_YML.read_text(encoding="utf-8"))
    assert set(data) == {"collections"}, "requirements.yml holds collections only"
    entries = data["collections"]
    names = [entry["name"] for entry in entries]
    assert len(names) == len(set(names)), f"a collection is listed twice: {names}"
    return {entry["name"]: str(entry["version"]) for entry in entries}


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _project_files(*suffixes: str) -> Iterator[Path]:
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(name for name in dirs if name not in SKIPPED_DIRS)
        for name in sorted(files):
            path = Path(folder, name)
            if path.suffix in suffixes and path != REQUIREMENTS_YML:
                yield path


def _molecule_driver_playbooks() -> Iterator[Path]:
    """The create and destroy playbooks of the molecule driver the scenarios use."""
    config = yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text(encoding="utf-8"))
    driver = config["driver"]["name"]
    spec = importlib.util.find_spec(f"molecule_plugins.{driver}")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"molecule's {driver} driver is not installed: run `make setup`")
    for location in spec.submodule_search_locations:
        yield from sorted((Path(location) / "playbooks").glob("*.yml"))


@functools.cache
def used_names() -> dict[str, set[str]]:
    """Each FQCN named outside ansible.builtin, with the files that name it."""
    texts: list[tuple[Path, str]] = []
    for path in [*_project_files(".yml", ".yaml"), *_molecule_driver_playbooks()]:
        # Parsed, so that comments do not count.
        for document in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_AnyTagLoader):
            texts.extend((path, text) for text in _strings(document))
    for path in _project_files(".j2"):
        texts.append((path, JINJA_COMMENT.sub("", path.read_text(encoding="utf-8"))))
    config = configparser.ConfigParser(inline_comment_prefixes=(";",))
    config.read(ROOT / "ansible.cfg")
    texts.extend((ROOT / "ansible.cfg", value) for section in config.values() for value in section.values())

    collections = shipped_collections()
    used: dict[str, set[str]] = {}
    for path, text in texts:
        for match in FQCN.finditer(text):
            collection = f"{match[1]}.{match[2]}"
            if collection in collections and match[0] not in NAMED_NOT_LOADED:
                used.setdefault(match[0], set()).add(os.path.relpath(path, ROOT))
    return used


def test_the_installed_ansible_is_the_pinned_one():
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("ansible==")
    )
    assert importlib.metadata.version("ansible") == pins["ansible"], "run `make setup`"


def test_versions_are_the_ones_the_ansible_package_ships():
    shipped = shipped_collections()
    wrong = {
        name: f"requirements.yml says {version}, ansible {importlib.metadata.version('ansible')} ships "
        f"{shipped.get(name, 'no such collection')}"
        for name, version in required_collections().items()
        if shipped.get(name) != version
    }
    assert not wrong


def test_every_collection_used_is_listed_and_no_other():
    used = used_names()
    by_collection: dict[str, set[str]] = {}
    for name, files in used.items():
        by_collection.setdefault(name.rsplit(".", 1)[0], set()).update(f"{name} in {file}" for file in files)
    required = set(required_collections())

    missing = {collection: sorted(where) for collection, where in by_collection.items() if collection not in required}
    assert not missing, f"used but not in requirements.yml: {missing}"
    assert not required - set(by_collection), "listed in requirements.yml but used nowhere"


def test_the_scan_finds_what_the_project_is_known_to_use():
    used = used_names()
    # The ufw module, the profile_tasks callback, and the podman driver's modules.
    assert "community.general.ufw" in used
    assert "ansible.posix.profile_tasks" in used
    assert any(name.startswith("containers.podman.") for name in used)
