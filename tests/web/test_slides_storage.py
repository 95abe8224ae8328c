"""Slides in S3-compatible storage, tested against a real local S3 server (moto in server mode):
upload and download through the web routes, access before/after the start, a store that is down
or refuses, and a row that fails after the object was written."""

from __future__ import annotations

import io
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from models import CourseRole, SlideDeck, db
from tests.factories import hold_slot, make_course, make_group, make_member
from tests.smtp import free_port

ROLES = [{"key": "opening", "name": "Opening", "minutes": 8},
         {"key": "rebuttal", "name": "Rebuttal", "minutes": 4}]
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8
PREFIX = "slides/test/"
KEYS = {"SLIDES_S3_ACCESS_KEY": "test-key", "SLIDES_S3_SECRET_KEY": "test-secret",
        "SLIDES_S3_REGION": "eu-central-1"}


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint) -> object:
    """A fresh bucket per test, seen through a client of its own (not the app's)."""
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="eu-central-1",
                      aws_access_key_id="test-key", aws_secret_access_key="test-secret")
    name = f"slides-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    s3.bucket_name = name
    return s3


@pytest.fixture
def app_config(bucket, s3_endpoint, tmp_path) -> dict:
    return {"SLIDES_S3_BUCKET": bucket.bucket_name, "SLIDES_S3_ENDPOINT_URL": s3_endpoint,
            "SLIDES_S3_PREFIX": PREFIX, "SLIDES_DIR": str(tmp_path / "local"),
            "SLIDES_MAX_BYTES": 8192, **KEYS}


@pytest.fixture
def world(app, monkeypatch) -> dict:
    course = make_course("slides-s3", roles=ROLES, timezone="America/Santiago")
    staff = make_member(course, CourseRole.ta)
    students = [make_member(course) for _ in range(4)]
    group = make_group(course, students[0:2])
    session = course.sessions[0]
    slot = hold_slot(course, group, session.week.number, "opening")
    db.session.commit()
    clock = {"now": session.starts_at - timedelta(hours=2)}
    monkeypatch.setattr("review.live.views._now", lambda: clock["now"])
    return {"session": session, "slot": slot, "staff": staff, "presenter": students[0],
            "audience": students[3], "clock": clock,
            "base": f"/c/slides-s3/sessions/{session.week.number}"}


def _upload(client, world, content: bytes = PDF, name: str = "Our talk.pdf") -> str:
    return client.post(world["base"] + "/slides", data={
        "slide_slot": world["slot"].id, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)


def _objects(bucket) -> list[dict]:
    return bucket.list_objects_v2(Bucket=bucket.bucket_name).get("Contents", [])


def test_slides_upload_to_the_bucket_under_a_random_key_and_download_through_the_app(
        client, login, world, bucket, tmp_path) -> None:
    login(world["presenter"])
    assert "version 1" in _upload(client, world)
    deck = db.session.scalar(select(SlideDeck))
    [stored] = _objects(bucket)
    assert stored["Key"] == PREFIX + deck.stored_name
    assert "Our talk" not in stored["Key"]
    head = bucket.head_object(Bucket=bucket.bucket_name, Key=stored["Key"])
    assert head["ContentType"] == "application/pdf"
    assert not (tmp_path / "local").exists()            # nothing on local disk
    url = f"{world['base']}/slides/{deck.id}"
    download = client.get(url)                          # presenters any time
    assert download.status_code == 200 and download.data == PDF
    assert download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert "Our talk.pdf" in download.headers["Content-Disposition"]
    assert int(download.headers["Content-Length"]) == len(PDF)

    login(world["audience"])
    before = client.get(url)
    assert before.status_code == 302 and before.location.endswith("/live")
    world["clock"]["now"] = world["session"].starts_at + timedelta(minutes=1)
    after = client.get(url)
    assert after.status_code == 200 and after.data == PDF


def test_a_store_that_is_down_gives_a_message_and_saves_no_row(
        client, login, world, app) -> None:
    app.config["SLIDES_S3_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"   # nobody listens
    app.extensions.pop("slide_store", None)
    login(world["presenter"])
    page = _upload(client, world)
    assert "cannot be reached right now" in page and "nothing was saved" in page
    assert db.session.scalars(select(SlideDeck)).all() == []


def test_a_download_from_a_store_that_is_down_gives_a_message_not_an_error(
        client, login, world, app, bucket) -> None:
    login(world["presenter"])
    assert "version 1" in _upload(client, world)
    deck = db.session.scalar(select(SlideDeck))
    app.config["SLIDES_S3_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    app.extensions.pop("slide_store", None)
    response = client.get(f"{world['base']}/slides/{deck.id}", follow_redirects=True)
    assert response.status_code == 200
    assert "cannot be fetched from storage" in response.get_data(as_text=True)


def test_a_store_that_refuses_the_file_gives_a_message_and_saves_no_row(
        client, login, world, app) -> None:
    app.config["SLIDES_S3_BUCKET"] = "no-such-bucket-here"
    app.extensions.pop("slide_store", None)
    login(world["presenter"])
    page = _upload(client, world)
    assert "refused the file" in page and "nothing was saved" in page
    assert db.session.scalars(select(SlideDeck)).all() == []


def test_when_the_row_cannot_be_saved_the_stored_object_is_removed(
        client, login, world, bucket, monkeypatch) -> None:
    login(world["presenter"])

    def database_gone() -> None:
        raise OperationalError("COMMIT", {}, Exception("database is locked"))

    with monkeypatch.context() as patch:
        patch.setattr(db.session, "commit", database_gone)
        page = _upload(client, world)
    assert "could not be saved" in page and "nothing was kept" in page
    assert _objects(bucket) == []
    assert db.session.scalars(select(SlideDeck)).all() == []


def test_a_missing_object_is_not_found(client, login, world, bucket) -> None:
    login(world["presenter"])
    _upload(client, world)
    deck = db.session.scalar(select(SlideDeck))
    bucket.delete_object(Bucket=bucket.bucket_name, Key=PREFIX + deck.stored_name)
    assert client.get(f"{world['base']}/slides/{deck.id}").status_code == 404


def test_start_up_does_not_import_boto3() -> None:
    probe = ("import sys; from app import create_app; create_app({'TESTING': True, "
             "'SLIDES_S3_BUCKET': 'b'}); print('boto3' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
