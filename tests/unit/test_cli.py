"""The CLI against a fake server (httpx.MockTransport): arguments, output, errors."""

from __future__ import annotations

import hashlib
import json
import uuid as uuidlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from prophoto.cli import client
from prophoto.cli.main import app
from prophoto.cli.upload import collect, filename_header
from tests.fixtures.api_bodies import proxy_body, upload_body
from tests.fixtures.cli import free_ports

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Handler], list[httpx.Request]]]:
    """Install a fake server; returns the list of requests it saw."""

    def install(handler: Handler) -> list[httpx.Request]:
        seen: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            request.read()
            seen.append(request)
            return handler(request)

        monkeypatch.setattr(client, "TRANSPORT", httpx.MockTransport(record))
        return seen

    yield install


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> httpx.Response:
    body = {"type": "about:blank", "title": title, "status": status, **extra}
    if detail:
        body["detail"] = detail
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, list(args), env={"PROPHOTO_TOKEN": "tok", **(env or {})})


def one_error_line(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr + result.stdout
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_connection_refused_is_one_line_and_exit_code_1() -> None:
    (port,) = free_ports(1)
    result = run("--url", f"http://127.0.0.1:{port}", "status")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line.startswith("error: cannot connect to")
    assert "connection refused" in line


def test_a_wrong_token_says_which_setting_to_fix(server: Any) -> None:
    server(lambda r: problem(401, "Invalid token", "the bearer token is not known"))
    result = run("status")
    assert result.exit_code == 1
    assert one_error_line(result) == (
        "error: 401 Invalid token: the bearer token is not known (set --token or PROPHOTO_TOKEN)"
    )


def test_without_a_token_the_development_token_is_sent_and_named_on_401(server: Any) -> None:
    seen = server(lambda r: problem(401, "Invalid token"))
    result = CliRunner().invoke(app, ["status"], env={"PROPHOTO_TOKEN": None})
    assert seen[0].headers["authorization"] == "Bearer dev-token"
    assert "the development token was tried" in one_error_line(result)


def test_a_problem_body_is_rendered_with_its_title_detail_and_first_error(server: Any) -> None:
    server(lambda r: problem(422, "Invalid request", "the request does not match the API",
                             errors=[{"loc": ["query", "status"], "msg": "bad value"}]))
    result = run("status", "--status", "nonsense")
    assert one_error_line(result) == (
        "error: 422 Invalid request: the request does not match the API (query.status: bad value)"
    )


def test_a_non_json_gateway_error_is_still_one_line(server: Any) -> None:
    server(lambda r: httpx.Response(502, text="<html>bad gateway</html>"))
    result = run("failed", "list")
    assert result.exit_code == 1
    assert one_error_line(result) == "error: 502 Bad Gateway"


def test_a_url_without_scheme_is_refused_before_any_request() -> None:
    result = run("--url", "localhost:8080", "status")
    assert result.exit_code == 1
    assert "must start with http://" in one_error_line(result)


def test_collect_walks_folders_only_when_recursive_and_skips_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.jpg").write_bytes(b"1")
    (tmp_path / "a" / ".DS_Store").write_bytes(b"x")
    (tmp_path / "a" / ".hidden").mkdir()
    (tmp_path / "a" / ".hidden" / "two.jpg").write_bytes(b"2")
    (tmp_path / "three.jpg").write_bytes(b"3")
    found = collect([tmp_path / "a", tmp_path / "three.jpg"], recursive=True)
    assert found == [tmp_path / "a" / "one.jpg", tmp_path / "three.jpg"]
    with pytest.raises(client.CliError, match="--recursive"):
        collect([tmp_path / "a"], recursive=False)
    with pytest.raises(client.CliError, match="no such file"):
        collect([tmp_path / "missing.jpg"], recursive=False)


def test_non_ascii_filenames_travel_as_rfc8187_in_x_filename() -> None:
    assert filename_header("IMG_1.jpg") == "IMG_1.jpg"
    assert filename_header("été 1.jpg") == "UTF-8''%C3%A9t%C3%A9%201.jpg"


def upload_server(known: dict[str, str]) -> Handler:
    """Fake upload API: JPEG bytes are created, known hashes are duplicates, the rest 415."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/proxies":
            return httpx.Response(200, json={"items": [], "next_cursor": None})
        assert request.url.path == "/v1/uploads"
        digest = request.headers["x-content-sha256"]
        name = request.headers["x-filename"]
        if digest in known:
            return httpx.Response(200, json=upload_body(uuid=known[digest], status="ready",
                                                        duplicate=True, original_name=name))
        if not request.content.startswith(b"\xff\xd8"):
            return problem(415, "Unsupported type", "text/plain is not a supported image")
        assert hashlib.sha256(request.content).hexdigest() == digest
        assert int(request.headers["content-length"]) == len(request.content)
        return httpx.Response(201, json=upload_body(original_name=name))

    return handle


def test_upload_reports_created_duplicate_and_rejected_files_with_reasons(
    server: Any, tmp_path: Path
) -> None:
    new = tmp_path / "new.jpg"
    new.write_bytes(b"\xff\xd8\xff" + b"x" * 300_000)
    dup = tmp_path / "dup.jpg"
    dup.write_bytes(b"\xff\xd8\xffdup")
    text = tmp_path / "notes.jpg"
    text.write_bytes(b"just text")
    dup_uuid = str(uuidlib.uuid4())
    seen = server(upload_server({hashlib.sha256(dup.read_bytes()).hexdigest(): dup_uuid}))

    result = run("upload", str(new), str(dup), str(text), "--concurrency", "2",
                 env={"COLUMNS": "400"})

    assert result.exit_code == 1  # one file did not upload
    table = result.stdout
    assert "created" in table and "duplicate" in table and "rejected" in table
    assert dup_uuid in table
    assert "415 Unsupported type: text/plain is not a supported image" in table
    assert "3 file(s): 1 created, 1 duplicate, 1 rejected" in table
    assert one_error_line(_only_last_stderr_line(result)) == \
        "error: 1 of 3 file(s) did not upload (reasons above)"
    uploads = [r for r in seen if r.url.path == "/v1/uploads"]
    assert {r.headers["x-filename"] for r in uploads} == {"new.jpg", "dup.jpg", "notes.jpg"}
    assert all(r.headers["authorization"] == "Bearer tok" for r in uploads)


def _only_last_stderr_line(result: Any) -> Any:
    class Last:
        stdout = ""
        stderr = [line for line in result.stderr.splitlines() if line.strip()][-1]
    return Last


def test_upload_of_a_folder_without_recursive_fails_with_a_hint(tmp_path: Path) -> None:
    result = run("upload", str(tmp_path))
    assert result.exit_code == 1
    assert "add --recursive" in one_error_line(result)


def test_status_of_one_proxy_shows_its_fields(server: Any) -> None:
    uid = str(uuidlib.uuid4())
    server(lambda r: httpx.Response(200, json=proxy_body(
        uuid=uid, original_name="IMG_1.jpg", preview_status="failed",
        preview_error="truncated JPEG", metadata={"make": "Canon"})))
    result = run("status", uid)
    assert result.exit_code == 0
    assert "truncated JPEG" in result.stdout and "metadata.make" in result.stdout


def test_status_without_uuid_lists_proxies_with_the_status_filter(server: Any) -> None:
    seen = server(lambda r: httpx.Response(200, json={"items": [
        proxy_body(original_name="a.jpg", preview_status="ready", size=10)],
        "next_cursor": "abc"}))
    result = run("status", "--status", "ready", "--limit", "5")
    assert result.exit_code == 0
    assert seen[0].url.params["status"] == "ready" and seen[0].url.params["limit"] == "5"
    assert "a.jpg" in result.stdout and "more proxies exist" in result.stdout


def test_ingest_needs_photos_all_ready_or_picked_but_only_one_of_them() -> None:
    assert "give file names or ids, --all-ready or --picked" in one_error_line(run("ingest"))
    assert run("ingest", "u-1", "--all-ready").exit_code == 1
    assert run("ingest", "--picked", "--all-ready").exit_code == 1


def test_ingest_all_ready_pages_through_ready_proxies_and_reports_refusals(server: Any) -> None:
    u1, u2 = str(uuidlib.uuid4()), str(uuidlib.uuid4())

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/proxies":
            assert request.url.params["status"] == "ready"
            if "cursor" not in request.url.params:
                return httpx.Response(200, json={"items": [proxy_body(uuid=u1)], "next_cursor": "c1"})
            return httpx.Response(200, json={"items": [proxy_body(uuid=u2)], "next_cursor": None})
        assert json.loads(request.content)["uuids"] == [u1, u2]
        return httpx.Response(202, json={"queued": 1, "refused": 1, "results": [
            {"uuid": u1, "status": "queued", "reason": None},
            {"uuid": u2, "status": "refused", "reason": "preview is not ready"}]})

    server(handle)
    result = run("ingest", "--all-ready")
    assert result.exit_code == 1
    assert "preview is not ready" in result.stdout
    assert "1 of 2 photos were not kept" in result.stderr


def many(n: int, **fields: Any) -> list[dict[str, Any]]:
    return [proxy_body(uuid=uuidlib.uuid4(), original_name=f"IMG_{i:04d}.jpg", **fields) for i in range(n)]


def test_ingest_of_more_than_a_handful_by_a_flag_asks_first_and_keeps_nothing_without_a_yes(
        server: Any) -> None:
    rows = many(8)
    seen = server(lambda r: httpx.Response(200, json={"items": rows, "next_cursor": None}))
    result = CliRunner().invoke(app, ["ingest", "--all-ready", "--tag", "x"], input="n\n")
    assert result.exit_code == 1 and "Keep 8 photos" in result.stdout
    assert [r.method for r in seen] == ["GET"]  # nothing confirmed


def test_ingest_picked_with_tags_and_yes_confirms_exactly_the_picked_and_names_the_files(
        server: Any) -> None:
    rows = many(3, flag="pick") + many(4) + many(1, flag="reject")
    picked = [r["uuid"] for r in rows[:3]]

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"items": rows, "next_cursor": None})
        body = json.loads(request.content)
        assert body["uuids"] == picked and body["tags"] == ["wedding", "ceremony"]
        return httpx.Response(202, json={"queued": 3, "refused": 0, "results": [
            {"uuid": u, "status": "queued", "reason": None} for u in picked]})

    server(handle)
    result = run("ingest", "--picked", "-t", "wedding", "--tag", "ceremony")
    assert result.exit_code == 0, result.output
    assert "IMG_0000.jpg" in result.stdout and picked[0][:8] in result.stdout
    assert picked[0] not in result.stdout  # a short id, not the whole uuid


def test_cull_names_photos_by_file_name_or_short_id_and_sends_the_flag_and_rating(server: Any) -> None:
    rows = many(3)
    patched: list[tuple[str, dict[str, Any]]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"items": rows, "next_cursor": None})
        uid = request.url.path.rsplit("/", 1)[-1]
        patched.append((uid, json.loads(request.content)))
        row = next(r for r in rows if r["uuid"] == uid)
        return httpx.Response(200, json=row | json.loads(request.content))

    server(handle)
    result = run("cull", "IMG_0001.jpg", rows[2]["uuid"][:8], "--pick", "--rating", "4")
    assert result.exit_code == 0, result.output
    assert patched == [(rows[1]["uuid"], {"flag": "pick", "rating": 4}),
                       (rows[2]["uuid"], {"flag": "pick", "rating": 4})]
    assert "****" in result.stdout
    unknown = run("cull", "nope.jpg", "--reject")
    assert unknown.exit_code == 1 and "nope.jpg" in unknown.stderr
    assert run("cull", "IMG_0001.jpg", "--rating", "6").exit_code == 2
    assert run("cull", "IMG_0001.jpg", "--pick", "--reject").exit_code == 2


def test_failed_list_shows_parked_jobs_for_the_chosen_queue_with_file_names_and_one_reason(
        server: Any) -> None:
    row = proxy_body(original_name="broken.jpg")

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/proxies":
            return httpx.Response(200, json={"items": [row], "next_cursor": None})
        return httpx.Response(200, json={"items": [
            {"queue": "ingest-preview", "uuid": row["uuid"], "reason": "bad JPEG", "error": "bad JPEG",
             "parked_at": "2026-01-01T00:00:00Z", "attempt": 3}]})

    seen = server(handle)
    result = run("failed", "list", "--queue", "preview")
    assert result.exit_code == 0
    assert seen[0].url.params["queue"] == "preview"
    assert "broken.jpg" in result.stdout and "1 parked job(s)" in result.stdout
    assert result.stdout.count("bad JPEG") == 1


def test_failed_replay_sends_the_uuids_and_reports_how_many_went_back(server: Any) -> None:
    seen = server(lambda r: httpx.Response(200, json={"replayed": 1}))
    u1, u2 = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    result = run("failed", "replay", u1, u2)
    assert json.loads(seen[0].content) == {"uuids": [u1, u2]}
    assert "replayed 1 parked job(s)" in result.stdout
    assert result.exit_code == 1  # one of the two had nothing parked
    assert "1 of the given proxies had no parked job" in result.stderr


def test_failed_replay_without_uuids_replays_everything_of_the_user(server: Any) -> None:
    seen = server(lambda r: httpx.Response(200, json={"replayed": 4}))
    result = run("failed", "replay")
    assert result.exit_code == 0
    assert json.loads(seen[0].content) == {}


def test_failed_replay_and_list_by_tag_send_the_tag(server: Any) -> None:
    photo = str(uuidlib.uuid4())
    seen = server(lambda r: httpx.Response(200, json={"replayed": 2} if r.method == "POST"
                                           else {"items": []}))
    result = run("failed", "replay", "--tag", f"proxy:{photo}", "--queue", "ingest")
    assert result.exit_code == 0 and "replayed 2 parked job(s)" in result.stdout
    assert json.loads(seen[0].content) == {"queue": "ingest", "tag": f"proxy:{photo}"}
    assert run("failed", "list", "--tag", "user:studio-7").exit_code == 0
    assert seen[1].url.params["tag"] == "user:studio-7"
