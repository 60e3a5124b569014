"""``download-status``: what download-only work has really staged, from the status files."""

from __future__ import annotations

from machine_world import FakeFirewall, answer_all, record

from reconciler.core.inventory import Inventory
from reconciler.jobs.download_report import bucket_counts, staged_devices
from reconciler.machine.records import Mode, Phase


def test_a_device_without_room_for_its_images_is_not_counted_as_downloaded() -> None:
    rec, _, _ = answer_all(
        record(path=("11.0.3", "11.1.6"), mode=Mode.DOWNLOAD_ONLY),
        FakeFirewall("0001", "10.2.9", disk_gb=6.3),
    )
    [dev] = staged_devices([rec], [], Inventory.of([]))
    assert ("failed", (), ("11.0.0", "11.0.3", "11.1.0", "11.1.6")) == (dev.bucket, dev.staged, dev.remaining)
    assert {"total": 1, "downloaded": 0, "downloading": 0, "waiting": 0, "failed": 1, "stopped": 0} == (
        bucket_counts([dev])
    )


def test_a_finished_record_with_images_missing_counts_as_failed() -> None:
    # Written by a release that finished download-only work with images "deferred" for disk space.
    rec = record(path=("11.0.3", "11.1.6"), mode=Mode.DOWNLOAD_ONLY).with_changes(
        phase=Phase.DOWNLOADED, progress=100, downloaded_versions=("11.0.0", "11.0.3")
    )
    [dev] = staged_devices([rec], [], Inventory.of([]))
    assert ("failed", ("11.1.0", "11.1.6")) == (dev.bucket, dev.remaining)


def test_hops_the_device_is_already_past_need_nothing_staged() -> None:
    # The device already runs the first hop's version: only the second hop's images are wanted.
    fw = FakeFirewall("0001", "11.0.3")
    rec, _, _ = answer_all(record(path=("11.0.3", "11.1.6"), mode=Mode.DOWNLOAD_ONLY), fw)
    assert Phase.DOWNLOADED is rec.phase and 1 == rec.current_path_index
    [dev] = staged_devices([rec], [], Inventory.of([]))
    assert ("downloaded", ("11.1.0", "11.1.6"), ()) == (dev.bucket, dev.staged, dev.remaining)
