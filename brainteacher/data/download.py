"""Opt-in download of the GOD subject files from figshare, checked against their MD5 checksums.

The only code that touches the network, and only when asked (``download-god`` or a config with
``data.download: true``). The expected checksum is the one pinned by the caller when given, else
the ``computed_md5`` that figshare's public API lists for the file; a file whose bytes do not
match is deleted and reported, never left in place. Each file is written beside its target and
renamed into place only after its checksum matches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from brainteacher.errors import DataError
from brainteacher.outputs import atomic_path

__all__ = ["FIGSHARE_ARTICLE", "SUBJECT_FILE_IDS", "RemoteFile", "list_remote_files", "download_subjects"]

log = logging.getLogger(__name__)

# From the GOD repository's data/README.md (KamitaniLab/GenericObjectDecoding).
FIGSHARE_ARTICLE = 7387130
SUBJECT_FILE_IDS = {f"Subject{n}.h5": 24080120 + 3 * (n - 1) for n in range(1, 6)}
API_URL = f"https://api.figshare.com/v2/articles/{FIGSHARE_ARTICLE}/files"
FILE_URL = "https://ndownloader.figshare.com/files/{id}"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One file of the figshare article: its name, download URL, size in bytes and MD5 (hex)."""

    name: str
    url: str
    size: int | None
    md5: str | None


def list_remote_files(api_url: str = API_URL, file_url: str = FILE_URL) -> dict[str, RemoteFile]:
    """The article's files by name, from figshare's API (``computed_md5`` and ``size`` per file)."""
    with urllib.request.urlopen(api_url, timeout=60) as response:
        listing = json.load(response)
    return {
        f["name"]: RemoteFile(
            f["name"],
            f.get("download_url") or file_url.format(id=f["id"]),
            f.get("size"),
            f.get("computed_md5") or None,
        )
        for f in listing
    }


def _fetch(url: str, target: Path, expected_md5: str, size: int | None) -> None:
    """Stream ``url`` into ``target`` atomically, checking MD5 (and size when known) on the way."""
    md5, done = hashlib.md5(), 0
    with atomic_path(target) as tmp, urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            md5.update(chunk)
            done += len(chunk)
            if size and done % (64 * _CHUNK) < _CHUNK:
                log.info("%s: %.0f%% of %.0f MB", target.name, 100 * done / size, size / 2**20)
        out.close()
        if md5.hexdigest() != expected_md5.lower():
            raise DataError(
                target,
                f"MD5 {md5.hexdigest()} does not match the expected {expected_md5} (download from {url} discarded)",
            )
        if size is not None and done != size:
            raise DataError(target, f"{done} bytes downloaded, expected {size}")


def download_subjects(
    root: str | Path,
    subjects: Sequence[str],
    checksums: Mapping[str, str] | None = None,
    *,
    api_url: str = API_URL,
    file_url: str = FILE_URL,
) -> list[Path]:
    """Fetch ``Subject<N>.h5`` for each subject into ``root`` unless already there; returns the paths.

    ``checksums`` maps file names to pinned MD5s, which take precedence over the API's. A file with
    no checksum from either source is refused rather than trusted.
    """
    root = Path(root)
    names = [f"{s}.h5" for s in subjects]
    unknown = [n for n in names if n not in SUBJECT_FILE_IDS]
    if unknown:
        raise DataError(None, f"GOD has Subject1..Subject5; cannot download {', '.join(unknown)}")
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        remote = list_remote_files(api_url, file_url)
        for name in missing:
            entry = remote.get(name)
            if entry is None:
                raise DataError(root / name, f"not listed in figshare article {FIGSHARE_ARTICLE}")
            expected = (checksums or {}).get(name) or entry.md5
            if not expected:
                raise DataError(root / name, "no checksum to verify the download against (pin one in data.checksums)")
            log.info("downloading %s from %s", name, entry.url)
            _fetch(entry.url, root / name, expected, entry.size)
    return [root / n for n in names]
