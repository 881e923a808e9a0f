"""The opt-in figshare download, against local file:// URLs (no network): checksums are enforced."""

from __future__ import annotations

import hashlib
import json

import pytest

from brainteacher.data.download import SUBJECT_FILE_IDS, download_subjects
from brainteacher.errors import DataError


@pytest.fixture
def remote(tmp_path):
    """A fake figshare: one file per subject and an API listing with their MD5s."""
    served = tmp_path / "served"
    served.mkdir()
    listing = []
    for name, file_id in SUBJECT_FILE_IDS.items():
        payload = f"fake BData for {name}".encode() * 1000
        (served / str(file_id)).write_bytes(payload)
        listing.append(
            {"id": file_id, "name": name, "size": len(payload), "computed_md5": hashlib.md5(payload).hexdigest()}
        )
    (served / "api.json").write_text(json.dumps(listing))
    return {"api_url": (served / "api.json").as_uri(), "file_url": served.as_uri() + "/{id}"}


def test_downloads_and_verifies_the_listed_md5(remote, tmp_path):
    paths = download_subjects(tmp_path / "god", ["Subject1", "Subject3"], **remote)
    assert [p.name for p in paths] == ["Subject1.h5", "Subject3.h5"]
    assert paths[0].read_bytes().startswith(b"fake BData for Subject1.h5")
    assert sorted(p.name for p in (tmp_path / "god").iterdir()) == ["Subject1.h5", "Subject3.h5"]


def test_a_wrong_checksum_leaves_nothing_behind(remote, tmp_path):
    with pytest.raises(DataError, match="does not match the expected"):
        download_subjects(tmp_path / "god", ["Subject2"], {"Subject2.h5": "0" * 32}, **remote)
    assert list((tmp_path / "god").iterdir()) == []


def test_present_files_are_not_fetched_again(remote, tmp_path):
    (tmp_path / "god").mkdir()
    (tmp_path / "god" / "Subject1.h5").write_bytes(b"already here")
    download_subjects(tmp_path / "god", ["Subject1"], api_url="file:///nonexistent/api.json")
    assert (tmp_path / "god" / "Subject1.h5").read_bytes() == b"already here"


def test_unknown_subject_is_refused(remote, tmp_path):
    with pytest.raises(DataError, match="Subject1..Subject5"):
        download_subjects(tmp_path / "god", ["Subject6"], **remote)
