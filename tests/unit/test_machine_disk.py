"""Free space and image cleanup: the pure decision (``reconciler.machine.disk``) and the machine's steps."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st
from machine_world import FAST, FakeFirewall, answer_all, at, record, run_until

from reconciler.core.version import PanOsVersion
from reconciler.machine import resume
from reconciler.machine.commands import DeleteImage, Download, SoftwareInfo
from reconciler.machine.disk import DiskNeed, choose_deletions, cleanup_candidates, disk_need
from reconciler.machine.observations import ImageInfo, LiveDevice
from reconciler.machine.records import Mode, Phase

V = PanOsVersion.parse
OLD = ("10.1.0", "10.1.6", "10.2.0", "10.2.9", "10.2.10", "11.0.0", "11.0.3")


def listing(downloaded: set[str], versions: tuple[str, ...] = OLD, size_mb: int = 600) -> list[ImageInfo]:
    return [ImageInfo(v, v in downloaded, size_mb) for v in versions]


def names(images: list[ImageInfo]) -> list[str]:
    return [i.version for i in images]


# -- the pure decision ------------------------------------------------------------------------------------


def test_candidates_keep_the_running_the_path_and_the_previous_release() -> None:
    images = listing(set(OLD) | {"11.1.0"}, (*OLD, "11.1.0"))
    keep = {V("11.0.0"), V("11.0.3")}
    got = cleanup_candidates(images, V("10.2.10"), keep)
    # 10.2.9 is kept for a rollback (newest older image); 11.1.0 is newer than the running release.
    assert ["10.1.6", "10.1.0", "10.2.0"] == names(got)
    assert ["10.1.6", "10.1.0", "10.2.9", "10.2.0"] == names(
        cleanup_candidates(images, V("10.2.10"), keep, keep_previous=False)
    )


def test_the_release_the_device_ran_before_is_the_one_kept_for_a_rollback() -> None:
    images = listing(set(OLD))
    got = cleanup_candidates(images, V("10.2.10"), set(), ran_before=V("10.1.6"))
    assert "10.1.6" not in names(got) and "10.2.9" in names(got)


def test_images_deleted_once_are_never_candidates_again() -> None:
    got = cleanup_candidates(listing(set(OLD)), V("10.2.10"), set(), already_deleted={V("10.1.0")})
    assert "10.1.0" not in names(got)


@given(
    downloaded=st.sets(st.sampled_from(OLD)),
    running=st.sampled_from(OLD),
    keep=st.sets(st.sampled_from(OLD)),
    keep_previous=st.booleans(),
)
def test_never_a_running_kept_newer_or_missing_image(
    downloaded: set[str], running: str, keep: set[str], keep_previous: bool
) -> None:
    got = cleanup_candidates(
        listing(downloaded), V(running), {V(k) for k in keep}, keep_previous=keep_previous
    )
    for image in got:
        assert image.downloaded and V(image.version) < V(running) and image.version not in keep
    older = sorted(V(d) for d in downloaded if V(d) < V(running))
    if keep_previous and older:
        assert str(older[-1]) not in names(got)


def test_choose_deletes_as_few_as_make_room_and_nothing_when_it_cannot() -> None:
    candidates = listing(set(OLD))[:3]  # 600 MB each
    need = disk_need(5.5, ["11.0.0", "11.0.3"], {"11.0.0": 0.6, "11.0.3": 0.6}, 5.0, strict=False)
    assert (6.2, 5.0) == (round(need.wanted_gb, 1), need.required_gb)
    assert ("10.1.0", "10.1.6") == choose_deletions(need, candidates)
    assert () == choose_deletions(replace(need, free_gb=7.0), candidates)  # room enough: nothing deleted
    short = DiskNeed(2.0, ("12.1.2",), 1.2, 5.0, strict=True)
    assert () == choose_deletions(short, candidates)  # even all three would not reach 6.2 GB


# -- the machine ------------------------------------------------------------------------------------------


def small_box(disk_gb: float = 5.5) -> FakeFirewall:
    return FakeFirewall(
        "0001", "10.2.10", available=OLD, downloaded={"10.1.0", "10.1.6", "10.2.0", "10.2.9"}, disk_gb=disk_gb
    )


def test_old_images_are_deleted_before_the_downloads_that_need_their_room() -> None:
    fw = small_box()
    rec, _, _ = answer_all(record(start="10.2.10", path=("11.0.3",)), fw)
    assert Phase.DONE is rec.phase, rec.message
    assert [
        ("DeleteImage", "10.1.6"),
        ("DeleteImage", "10.1.0"),
        ("Download", "11.0.0"),
        ("Download", "11.0.3"),
        ("Install", "11.0.3"),
        ("Reboot", ""),
    ] == fw.executed
    assert ("10.1.6", "10.1.0") == rec.deleted_versions
    assert {"10.2.0", "10.2.9"} <= fw.downloaded  # the rest is left alone, 10.2.9 kept for a rollback


def test_a_device_with_room_deletes_nothing() -> None:
    fw = small_box(disk_gb=40.0)
    answer_all(record(start="10.2.10", path=("11.0.3",)), fw)
    assert not [e for e in fw.executed if e[0] == "DeleteImage"]


def test_cleanup_off_keeps_every_image_and_fails_insufficient_disk() -> None:
    fw = small_box(disk_gb=4.5)
    off = replace(FAST, image_cleanup=False)
    rec, _, _ = answer_all(record(start="10.2.10", path=("11.0.3",)), fw, off)
    assert rec.last_error is not None and ("insufficient-disk", "preflight") == (
        rec.last_error.reason,
        rec.last_error.phase,
    )
    assert [] == fw.executed


def test_download_only_makes_room_then_stages() -> None:
    fw = small_box(disk_gb=5.5)
    rec, _, _ = answer_all(record(start="10.2.10", path=("11.0.3",), mode=Mode.DOWNLOAD_ONLY), fw)
    assert Phase.DOWNLOADED is rec.phase, rec.message
    assert ("DeleteImage", "10.1.6") == fw.executed[0] and ("Download", "11.0.3") == fw.executed[-1]


def test_not_enough_even_after_cleanup_fails_without_deleting_anything() -> None:
    fw = small_box(disk_gb=2.0)
    rec, _, _ = answer_all(record(start="10.2.10", path=("11.0.3",)), fw)
    assert rec.last_error is not None and "insufficient-disk" == rec.last_error.reason
    assert "deleting every image no longer needed would free only 1.8 GB" in rec.last_error.message
    assert not [e for e in fw.executed if e[0] == "DeleteImage"]


def test_dry_run_reports_the_cleanup_and_deletes_nothing() -> None:
    fw = small_box()
    rec, _, steps = answer_all(record(start="10.2.10", path=("11.0.3",), mode=Mode.DRY_RUN), fw)
    assert Phase.DRY_RUN_COMPLETE is rec.phase
    assert "delete 10.1.6, 10.1.0 first to make room" in rec.message
    assert not any(isinstance(c, DeleteImage) for s in steps for c in s.commands) and [] == fw.executed


def test_a_restart_with_a_delete_outstanding_reads_the_list_instead_of_deleting_blind() -> None:
    fw = small_box()
    rec, now = run_until(record(start="10.2.10", path=("11.0.3",)), fw, DeleteImage)
    assert isinstance(rec.outstanding, DeleteImage)
    again = resume(rec, LiveDevice(True, "10.2.10", True, 1000), at(now + 5), FAST)
    assert (SoftwareInfo(FAST.software_info_timeout),) == again.commands
    assert Phase.SOFTWARE_CHECK is again.record.phase


def test_a_refused_delete_fails_image_delete_failed() -> None:
    fw = small_box()
    rec, now = run_until(record(start="10.2.10", path=("11.0.3",)), fw, DeleteImage)
    fw.downloaded.discard("10.1.6")  # someone deleted it by hand meanwhile: PAN-OS refuses
    rec, _, _ = answer_all(rec, fw, now=now)
    assert rec.last_error is not None and "image-delete-failed" == rec.last_error.reason
    assert not [e for e in fw.executed if e[0] == Download.__name__]
