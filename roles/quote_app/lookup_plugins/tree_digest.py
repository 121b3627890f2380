"""Lookup ``tree_digest``: a SHA-256 digest of a directory tree on the controller.

``lookup('tree_digest', '/path/to/app')`` covers every file's path relative to the
directory, whether it is executable, and its content, and every symbolic link's target,
which is what the ``copy`` module deploys from that directory. Two trees have the same
digest exactly when a copy of one would leave the other unchanged (modes aside).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = r"""
name: tree_digest
short_description: SHA-256 digest of a directory tree on the controller
description:
  - Hashes every file's relative path, executable bit and content, and every link's target.
options:
  _terms:
    description: Directories to digest.
    required: true
"""

RETURN = r"""
_raw:
  description: One hexadecimal SHA-256 digest per directory.
  type: list
  elements: str
"""


def tree_digest(top: str | os.PathLike[str]) -> str:
    """The digest of the tree at *top* (see the module docstring)."""
    root = Path(top)
    if not root.is_dir():
        raise AnsibleLookupError(f"tree_digest: {top} is not a directory on the controller")
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if Path(dirpath, d).is_symlink()]):
            path = Path(dirpath, name)
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                entry = f"link\0{relative}\0{os.readlink(path)}"
            else:
                content = hashlib.sha256(path.read_bytes()).hexdigest()
                executable = "x" if os.access(path, os.X_OK) else "-"
                entry = f"file\0{relative}\0{executable}\0{content}"
            digest.update(entry.encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):  # noqa: ANN001,ANN003,ANN201
        return [tree_digest(term) for term in terms]
