"""Uploads: the arriving-data layout, verified SHA-256 checksums, nothing sent twice, nothing replaced silently."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import PreconditionFailed, UsageError, WriteConflict
from mlops_cli.services.storage.listing import list_batches
from mlops_cli.services.storage.stack import delete_storage, init_storage
from mlops_cli.services.storage.upload import Plan, plan_upload, run_upload
from tests.unit.conftest import make_config


@pytest.fixture
def batches(tmp_path: Path) -> Path:
    root = tmp_path / "churn"
    for day, rows in (("2026-01-05", "1,yes\n2,no\n"), ("2026-01-12", "3,no\n")):
        folder = root / f"ingest_date={day}"
        folder.mkdir(parents=True)
        (folder / "customers.csv").write_text("id,churned\n" + rows)
    (root / ".DS_Store").write_text("junk")
    return root


@pytest.fixture
def bucket(clients: AwsClients, config: Config) -> str:
    return init_storage(clients, config).bucket


def sha256_b64(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def upload(clients, config, paths, progress, **kwargs):
    plan = plan_upload(clients, config, paths, date=kwargs.get("date"), force=kwargs.get("force", False))
    return run_upload(clients, config, plan, progress)


def test_folders_named_by_date_become_batches(clients, config, bucket, batches, progress) -> None:
    report = upload(clients, config, [batches], progress)
    assert [item.key for item in report.items] == [
        "raw/churn/ingest_date=2026-01-05/customers.csv",
        "raw/churn/ingest_date=2026-01-12/customers.csv",
    ]
    assert report.dates == ["2026-01-05", "2026-01-12"]
    assert report.files_sent == 2 and progress.sent == report.bytes_sent == sum(i.size for i in report.items)


def test_objects_carry_the_files_sha256(clients, config, bucket, batches, progress) -> None:
    report = upload(clients, config, [batches], progress)
    s3 = clients.client("s3")
    for item in report.items:
        head = s3.head_object(Bucket=bucket, Key=item.key, ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == sha256_b64(item.path)
        assert head["Metadata"]["sha256"] == hashlib.sha256(item.path.read_bytes()).hexdigest()
        assert item.verified and item.version_id


def test_second_upload_transfers_nothing(clients, config, bucket, batches, progress) -> None:
    upload(clients, config, [batches], progress)
    clients.call_log.calls.clear()
    again = upload(clients, config, [batches], progress)
    assert again.files_sent == 0 and again.bytes_sent == 0 and again.skipped == 2
    assert clients.call_log.writes() == {}


def test_changed_content_needs_force_and_keeps_the_old_version(clients, config, bucket, batches, progress) -> None:
    upload(clients, config, [batches], progress)
    changed = batches / "ingest_date=2026-01-12" / "customers.csv"
    changed.write_text("id,churned\n3,yes\n")
    clients.call_log.calls.clear()
    with pytest.raises(PreconditionFailed, match="1 file\\(s\\) differ"):
        upload(clients, config, [batches], progress)
    assert clients.call_log.writes() == {}  # nothing at all was sent
    report = upload(clients, config, [batches], progress, force=True)
    assert [i.plan for i in report.items] == [Plan.SKIP, Plan.REPLACE]
    versions = clients.client("s3").list_object_versions(Bucket=bucket, Prefix=report.items[1].key)["Versions"]
    assert len(versions) == 2


def test_date_option_and_single_files(clients, config, bucket, tmp_path, progress) -> None:
    file = tmp_path / "extra.csv"
    file.write_text("id,churned\n9,no\n")
    report = upload(clients, config, [file], progress, date="2026-02-01")
    assert report.items[0].key == "raw/churn/ingest_date=2026-02-01/extra.csv"
    with pytest.raises(UsageError, match="not a date"):
        upload(clients, config, [file], progress, date="2026-13-01")
    with pytest.raises(UsageError, match="no such file"):
        upload(clients, config, [tmp_path / "missing.csv"], progress)


def test_large_file_goes_multipart_with_a_verified_composite_checksum(clients, config, bucket, tmp_path, progress):
    config = make_config("storage.upload={multipart_threshold_mb: 5, part_size_mb: 5, max_concurrency: 4}")
    big = tmp_path / "2026-03-01" / "big.bin"
    big.parent.mkdir()
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    report = upload(clients, config, [big.parent], progress)
    [item] = report.items
    assert item.multipart and item.verified
    head = clients.client("s3").head_object(Bucket=bucket, Key=item.key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == item.checksum.composite and item.checksum.composite.endswith("-3")
    assert head["Metadata"]["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert progress.sent == big.stat().st_size
    again = upload(clients, config, [big.parent], progress)
    assert again.bytes_sent == 0


def test_upload_before_init_says_what_to_do(clients, config, batches, progress) -> None:
    with pytest.raises(PreconditionFailed, match="does not exist"):
        upload(clients, config, [batches], progress)


def test_listing_shows_batches_files_and_versions(clients, config, bucket, batches, progress) -> None:
    upload(clients, config, [batches], progress)
    (batches / "ingest_date=2026-01-05" / "customers.csv").write_text("id,churned\n1,no\n")
    upload(clients, config, [batches], progress, force=True)
    listing = list_batches(clients, config)
    assert [b.ingest_date for b in listing.batches] == ["2026-01-05", "2026-01-12"]
    first = listing.batches[0].files[0]
    assert first.key.endswith("customers.csv") and first.versions == 2 and first.size == len("id,churned\n1,no\n")


def test_delete_refuses_while_data_is_there(clients, config, bucket, batches, progress) -> None:
    upload(clients, config, [batches], progress)
    with pytest.raises(PreconditionFailed, match="holds data"):
        delete_storage(clients, config, delete_data=False)
    assert list_batches(clients, config).batches  # nothing was lost
    report = delete_storage(clients, config, delete_data=True)
    assert report.deleted and report.versions_deleted == 2
    assert report.kept == ["churn-local-123456789012-eu-west-1-logs", "alias/churn-local-data"]
    again = delete_storage(clients, config, delete_data=True)
    assert not again.deleted


def test_empty_bucket_is_deleted_without_the_flag(clients, config, bucket) -> None:
    assert delete_storage(clients, config, delete_data=False).deleted


# --- two uploads racing to the same keys ---------------------------------------------------------------------


def _batch(root: Path, files: int, content: str) -> Path:
    folder = root / "ingest_date=2026-04-01"
    folder.mkdir(parents=True)
    for number in range(files):
        (folder / f"part-{number:02d}.csv").write_text(f"id,churned\n{number},{content}\n")
    return root


def _versions(clients: AwsClients, bucket: str) -> dict[str, int]:
    found = clients.client("s3").list_object_versions(Bucket=bucket, Prefix="raw/")["Versions"]
    return {key: sum(1 for v in found if v["Key"] == key) for key in {v["Key"] for v in found}}


def test_an_upload_that_loses_the_race_replaces_nothing(clients, config, bucket, tmp_path, progress) -> None:
    ours, theirs = _batch(tmp_path / "a", 3, "yes"), _batch(tmp_path / "b", 3, "no")
    # both look before either writes: each plan sees empty keys
    plan_ours = plan_upload(clients, config, [ours], date=None, force=False)
    plan_theirs = plan_upload(clients, config, [theirs], date=None, force=False)
    run_upload(clients, config, plan_theirs, progress)
    with pytest.raises(WriteConflict, match="3 file\\(s\\) were not uploaded: another upload wrote") as raised:
        run_upload(clients, config, plan_ours, progress)
    assert raised.value.exit_code == 3
    assert set(_versions(clients, bucket).values()) == {1}  # no object was replaced
    body = clients.client("s3").get_object(Bucket=bucket, Key=plan_ours.items[0].key)["Body"].read()
    assert body.endswith(b",no\n")


def test_a_forced_replacement_replaces_only_the_object_it_saw(clients, config, bucket, tmp_path, progress) -> None:
    first, ours, theirs = (_batch(tmp_path / n, 1, n) for n in ("first", "ours", "theirs"))
    upload(clients, config, [first], progress)
    plan_ours = plan_upload(clients, config, [ours], date=None, force=True)  # saw `first`
    upload(clients, config, [theirs], progress, force=True)  # replaced it meanwhile
    with pytest.raises(WriteConflict):
        run_upload(clients, config, plan_ours, progress)
    key = plan_ours.items[0].key
    assert clients.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().endswith(b",theirs\n")
    assert _versions(clients, bucket) == {key: 2}


@pytest.mark.parametrize("force", [False, True], ids=["new key", "forced replacement"])
def test_a_multipart_upload_that_loses_the_race_replaces_nothing(clients, bucket, tmp_path, progress, force) -> None:
    config = make_config("storage.upload={multipart_threshold_mb: 5, part_size_mb: 5, max_concurrency: 2}")
    folders = {}
    for name in ("first", "ours", "theirs"):
        folders[name] = tmp_path / name / "2026-05-01"
        folders[name].mkdir(parents=True)
        (folders[name] / "big.bin").write_bytes(os.urandom(6 * 1024 * 1024))
    if force:
        upload(clients, config, [folders["first"]], progress)
    plan_ours = plan_upload(clients, config, [folders["ours"]], date=None, force=force)
    upload(clients, config, [folders["theirs"]], progress, force=force)
    with pytest.raises(WriteConflict):
        run_upload(clients, config, plan_ours, progress)
    s3, key = clients.client("s3"), plan_ours.items[0].key
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == (folders["theirs"] / "big.bin").read_bytes()
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []  # the loser's parts are gone


def test_two_uploads_racing_in_threads_never_replace_each_other(clients, config, bucket, tmp_path) -> None:
    import threading

    from tests.unit.conftest import RecordingProgress

    batches = {name: _batch(tmp_path / name, 20, name) for name in ("left", "right")}
    plans = {name: plan_upload(clients, config, [path], date=None, force=False) for name, path in batches.items()}
    start, lost = threading.Barrier(2), {}

    def run(name: str) -> None:
        own = AwsClients(config.aws, resolve=False)  # as two processes would: each its own clients
        start.wait()
        try:
            run_upload(own, config, plans[name], RecordingProgress())
        except WriteConflict as exc:
            lost[name] = exc

    threads = [threading.Thread(target=run, args=(name,)) for name in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(_versions(clients, bucket).values()) == {1} and len(_versions(clients, bucket)) == 20
    s3 = clients.client("s3")
    for item in plans["left"].items:
        winner = s3.get_object(Bucket=bucket, Key=item.key)["Body"].read().decode().strip().rsplit(",", 1)[1]
        loser = "right" if winner == "left" else "left"
        assert loser in lost and item.key in lost[loser].message  # the loser names the key it did not write
