"""The `prophoto` CLI as a user runs it, against `prophoto dev` on the real broker and DB."""

from __future__ import annotations

import io
import re
import uuid as uuidlib
from pathlib import Path

import pytest
from PIL import Image

from tests.fixtures.cli_stack import *  # noqa: F403 - the dev_stack fixture
from tests.fixtures.cli_stack import DevStack

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def photo(path: Path) -> Path:
    """A small JPEG with EXIF whose bytes are unique to this run (no stale duplicates)."""
    seed = uuidlib.uuid4().bytes
    image = Image.frombytes("RGB", (64, 48), (seed * (64 * 48 * 3 // 16 + 1))[: 64 * 48 * 3])
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS R5"
    buf = io.BytesIO()
    image.resize((640, 480)).save(buf, "JPEG", quality=90, exif=exif)
    path.write_bytes(buf.getvalue())
    return path


def uploaded_uuid(stdout: str, name: str) -> str:
    match = re.search(rf"{re.escape(name)}.*?({UUID})", stdout)
    assert match, stdout
    return match.group(1)


def test_upload_reports_new_files_then_the_same_bytes_as_a_duplicate(
    dev_stack: DevStack, tmp_path: Path
) -> None:
    original = photo(tmp_path / "IMG_0001.jpg")
    first = dev_stack.cli("upload", str(original))
    assert first.returncode == 0, first.stderr
    assert "1 file(s): 1 created" in first.stdout
    created = uploaded_uuid(first.stdout, "IMG_0001.jpg")

    again = dev_stack.cli("upload", str(original))
    assert again.returncode == 0, again.stderr
    assert "1 file(s): 1 duplicate" in again.stdout
    assert uploaded_uuid(again.stdout, "IMG_0001.jpg") == created


def test_a_folder_upload_lists_rejections_with_the_servers_reason_and_exits_1(
    dev_stack: DevStack, tmp_path: Path
) -> None:
    folder = tmp_path / "shoot"
    (folder / "day1").mkdir(parents=True)
    photo(folder / "day1" / "a.jpg")
    photo(folder / "b.jpg")
    (folder / "notes.jpg").write_text("this is not a photo")
    result = dev_stack.cli("upload", "--recursive", "--concurrency", "3", str(folder))
    assert result.returncode == 1
    assert "3 file(s): 2 created, 1 rejected" in result.stdout
    assert re.search(r"notes\.jpg.*rejected.*415", result.stdout), result.stdout
    assert result.stderr.strip().splitlines()[-1] == \
        "error: 1 of 3 file(s) did not upload (reasons above)"
    assert "Traceback" not in result.stderr


def test_status_shows_ones_own_proxy_and_another_users_token_gets_a_404_line(
    dev_stack: DevStack, tmp_path: Path
) -> None:
    upload = dev_stack.cli("upload", str(photo(tmp_path / "mine.jpg")))
    uid = uploaded_uuid(upload.stdout, "mine.jpg")
    mine = dev_stack.cli("status", uid)
    assert mine.returncode == 0, mine.stderr
    assert "mine.jpg" in mine.stdout and "preview_status" in mine.stdout
    listing = dev_stack.cli("status", "--limit", "500")
    assert re.search(rf"mine\.jpg.*{uid[:8]}", listing.stdout), listing.stdout  # the file, a short id
    by_name = dev_stack.cli("status", "mine.jpg")
    assert by_name.returncode == 0 and uid in by_name.stdout
    theirs = dev_stack.cli("status", uid, token="tok-bob")
    assert theirs.returncode == 1
    assert theirs.stderr.strip() == f"error: 404 Not found: no proxy {uid}"


def test_a_wrong_token_is_one_line_naming_the_setting(dev_stack: DevStack) -> None:
    result = dev_stack.cli("status", token="nope")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: 401 Invalid token: the bearer token is not known (set --token or PROPHOTO_TOKEN)"
    )


def test_failed_list_and_replay_answer_for_a_user_with_nothing_parked(dev_stack: DevStack) -> None:
    listed = dev_stack.cli("failed", "list", token="tok-bob")
    assert listed.returncode == 0, listed.stderr
    assert "no parked jobs" in listed.stdout
    replayed = dev_stack.cli("failed", "replay", token="tok-bob")
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 0 parked job(s)" in replayed.stdout


def test_upload_wait_follows_the_preview_to_ready_over_sse(
    dev_stack: DevStack, tmp_path: Path
) -> None:
    result = dev_stack.cli("upload", "--wait", "--wait-timeout", "60",
                           str(photo(tmp_path / "w.jpg")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "previews: 1 ready" in result.stdout


def test_ingest_queues_a_proxy_whose_preview_is_ready(dev_stack: DevStack, tmp_path: Path) -> None:
    upload = dev_stack.cli("upload", "--wait", "--wait-timeout", "60",
                           str(photo(tmp_path / "i.jpg")))
    uid = uploaded_uuid(upload.stdout, "i.jpg")
    result = dev_stack.cli("ingest", uid[:8], "--tag", "cli", "--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(rf"i\.jpg.*{uid[:8]}.*ingested.*shoots/", result.stdout), result.stdout
