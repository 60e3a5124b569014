"""The device model on a manual clock: jobs, PAN-OS install rules, reboots, HA and faults (no sockets)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest

from reconciler.sim.faults import Fault
from reconciler.sim.firewall import SOFTWARE_MANAGER_BUSY, OpError, Phase
from reconciler.sim.version import Version
from tests.sim.conftest import Harness, device, ha_pair

V = Version.parse
MakeWorld = Callable[..., Harness]


def download(h: Harness, serial: str, version: str) -> None:
    fw = h.fw(serial)
    job = fw.request_download(V(version), sync_to_peer=False, user="admin", t=h.clock.now())
    h.run_until(lambda: job.finished)
    assert job.result == "OK", job.details
    # The software manager loads the image for a while after the download (``swm_settle``); an install
    # asked before that is accepted and fails "software manager is currently in use" (test_panos_answers).
    h.run_until(lambda: fw.software_manager_busy(h.clock.now()) is None)


def install(h: Harness, serial: str, version: str) -> None:
    fw = h.fw(serial)
    job = fw.request_install(V(version), user="admin", t=h.clock.now())
    h.run_until(lambda: job.finished)
    assert job.result == "OK", job.details


def reboot(h: Harness, serial: str) -> float:
    fw = h.fw(serial)
    fw.request_restart(h.clock.now())
    h.run_until(lambda: fw.phase is Phase.DOWN)
    return h.run_until(lambda: fw.phase is Phase.UP)


def upgrade(h: Harness, serial: str, version: str) -> None:
    h.fw(serial).check_software(h.clock.now())
    download(h, serial, version)
    install(h, serial, version)
    reboot(h, serial)


class TestDownloads:
    def test_download_takes_a_realistic_time_and_adds_the_image(self, world: MakeWorld) -> None:
        h = world(device("A"))
        fw = h.fw("A")
        fw.check_software(0.0)
        free_before = fw.free_disk_mb()
        job = fw.request_download(V("10.2.13"), sync_to_peer=False, user="admin", t=0.0)
        assert (job.status, job.result) == ("ACT", "PEND")
        h.advance(60)
        assert 0 < job.percent(h.clock.now()) < 100
        took = h.run_until(lambda: job.finished)
        assert 100 - 60 <= took <= 420 - 60 + 1
        assert job.result == "OK"
        assert V("10.2.13") in fw.downloaded
        assert free_before - fw.free_disk_mb() == fw.image(V("10.2.13")).size_mb
        assert ":" in job.progress_text(h.clock.now())  # a finished download reports its finish time

    def test_unknown_version_needs_a_software_check_first(self, world: MakeWorld) -> None:
        h = world(device("A"))
        with pytest.raises(OpError, match="request system software check"):
            h.fw("A").request_download(V("10.2.13"), sync_to_peer=False, user="admin", t=0.0)

    def test_second_download_waits_in_the_queue(self, world: MakeWorld) -> None:
        h = world(device("A"))
        fw = h.fw("A")
        fw.check_software(0.0)
        first = fw.request_download(V("10.2.13"), sync_to_peer=False, user="admin", t=0.0)
        second = fw.request_download(V("11.0.0"), sync_to_peer=False, user="admin", t=0.0)
        assert (first.status, second.status, second.queued_position) == ("ACT", "PEND", 1)
        h.run_until(lambda: first.finished)
        assert second.status == "ACT"
        h.run_until(lambda: second.finished)
        assert {V("10.2.13"), V("11.0.0")} <= fw.downloaded

    def test_sync_to_peer_copies_the_image_to_the_ha_peer(self, world: MakeWorld) -> None:
        h = world(*ha_pair("A", "B"))
        h.fw("A").check_software(0.0)
        job = h.fw("A").request_download(V("10.2.13"), sync_to_peer=True, user="admin", t=0.0)
        h.run_until(lambda: job.finished)
        assert V("10.2.13") in h.fw("B").downloaded
        assert h.events("download_synced", "B")


class TestInstallRules:
    def test_install_needs_the_image_downloaded(self, world: MakeWorld) -> None:
        h = world(device("A"))
        h.fw("A").check_software(0.0)
        with pytest.raises(OpError, match="has not been downloaded"):
            h.fw("A").request_install(V("10.2.13"), user="admin", t=0.0)
        assert h.events("install_refused", "A")

    def test_new_feature_release_needs_its_base_image(self, world: MakeWorld) -> None:
        h = world(device("A", "10.2.9"))
        fw = h.fw("A")
        fw.check_software(0.0)
        download(h, "A", "11.0.6")
        with pytest.raises(OpError, match=r"base image PanOS_vm-11\.0\.0 must be downloaded"):
            fw.request_install(V("11.0.6"), user="admin", t=h.clock.now())
        download(h, "A", "11.0.0")
        install(h, "A", "11.0.6")
        assert fw.pending == V("11.0.6")

    def test_12_1_base_image_is_12_1_2(self, world: MakeWorld) -> None:
        h = world(device("A", "11.2.5"))
        h.fw("A").check_software(0.0)
        download(h, "A", "12.1.3")
        assert "PanOS_vm-12.1.2" in (h.fw("A").install_refusal(V("12.1.3")) or "")

    def test_standalone_may_skip_releases_from_10_1_but_not_before(self, world: MakeWorld) -> None:
        h = world(device("OLD", "9.1.19"), device("NEW", "10.2.9"))
        for serial, bases, target in (
            ("OLD", ["10.0.0", "10.1.0"], "10.1.14"),
            ("NEW", ["11.0.0", "11.1.0"], "11.1.6"),
        ):
            h.fw(serial).check_software(h.clock.now())
            for version in [*bases, target]:
                download(h, serial, version)
        assert "upgrade to a 10.0 release first" in (h.fw("OLD").install_refusal(V("10.1.14")) or "")
        assert h.fw("NEW").install_refusal(V("11.1.6")) is None

    def test_an_ha_member_skipping_a_release_is_not_refused_but_flagged(self, world: MakeWorld) -> None:
        # PAN-OS does not refuse it; the pair breaks after the reboot (tests/sim/test_panos_answers.py).
        h = world(*ha_pair("A", "B", "10.2.9"))
        h.fw("A").check_software(0.0)
        for version in ("11.0.0", "11.1.0", "11.1.6"):
            download(h, "A", version)
        assert h.fw("A").install_refusal(V("11.1.6")) is None
        install(h, "A", "11.1.6")
        gap = h.events("violation", "A")
        assert [(e["kind"], e["peer_version"], e["gap"]) for e in gap] == [("ha-version-gap", "10.2.9", 2)]

    def test_too_old_content_is_refused(self, world: MakeWorld) -> None:
        h = world(device("A", "11.0.6", content_version="8750-8340"))
        h.fw("A").check_software(0.0)
        for version in ("11.1.0", "11.1.6"):
            download(h, "A", version)
        assert "requires content version 8760" in (h.fw("A").install_refusal(V("11.1.6")) or "")

    def test_content_update_then_allows_the_install(self, world: MakeWorld) -> None:
        h = world(device("A", "11.0.6", content_version="8750-8340"))
        fw = h.fw("A")
        fw.check_content(0.0)
        job = fw.request_content_download(user="admin", sync_to_peer=False, t=0.0)
        h.run_until(lambda: job.finished)
        inst = fw.request_content_install("latest", user="admin", t=h.clock.now())
        h.run_until(lambda: inst.finished)
        assert fw.content_version == h.world.catalog.latest_content().version
        fw.check_software(h.clock.now())
        for version in ("11.1.0", "11.1.6"):
            download(h, "A", version)
        assert fw.install_refusal(V("11.1.6")) is None

    def test_second_install_while_one_runs_finds_the_software_manager_busy(self, world: MakeWorld) -> None:
        h = world(device("A", downloaded=(V("10.2.13"), V("10.2.12"))))
        fw = h.fw("A")
        fw.request_install(V("10.2.13"), user="admin", t=0.0)
        # Accepted as a job that then fails (not refused): github.com/o5edaxi/paloversion/issues/2.
        busy = fw.request_install(V("10.2.12"), user="admin", t=1.0)
        h.run_until(lambda: busy.finished)
        assert busy.result == "FAIL" and SOFTWARE_MANAGER_BUSY in busy.details
        assert [e["job"] for e in h.events("install_busy", "A")] == [busy.id]


class TestReboot:
    def test_reboot_goes_down_then_errors_then_up_on_the_installed_version(self, world: MakeWorld) -> None:
        h = world(device("A", downloaded=(V("10.2.13"),)))
        fw = h.fw("A")
        install(h, "A", "10.2.13")
        fw.request_restart(h.clock.now())
        assert fw.listening  # the answer to the restart still goes out
        took = []
        listening = []
        for phase in (Phase.DOWN, Phase.STARTING, Phase.WEB_STARTING, Phase.AUTH_STARTING, Phase.UP):
            took.append(h.run_until(partial(lambda p: fw.phase is p, phase)))
            listening.append(fw.listening)
        assert listening == [False, True, True, True, True]  # down: connection refused
        assert 340 - 5 <= sum(took) <= 540 + 5
        assert fw.version == V("10.2.13") and fw.pending is None
        assert [e["phase"] for e in h.events("boot_phase", "A")] == [
            "down",
            "starting",
            "web-starting",
            "auth-starting",
            "up",
        ]
        autocommit = max(fw.jobs.values(), key=lambda j: j.id)
        assert (autocommit.type, autocommit.status) == ("AutoCom", "ACT")
        h.run_until(lambda: autocommit.finished)
        assert autocommit.result == "OK"

    def test_jobs_running_at_reboot_are_aborted(self, world: MakeWorld) -> None:
        h = world(device("A"))
        fw = h.fw("A")
        fw.check_software(0.0)
        job = fw.request_download(V("10.2.13"), sync_to_peer=False, user="admin", t=0.0)
        reboot(h, "A")
        assert (job.status, job.result) == ("FIN", "FAIL")
        assert V("10.2.13") not in fw.downloaded

    def test_network_tables_recover_after_boot(self, world: MakeWorld) -> None:
        h = world(device("A"))
        fw = h.fw("A")
        full = len(fw.net.route_table(h.clock.now()))
        reboot(h, "A")
        now = h.clock.now()
        assert len(fw.net.route_table(now)) < full
        assert fw.net.arp_table(now, fw.noise()) == []
        h.run_until(lambda: fw.net.recovered(h.clock.now()))
        assert len(fw.net.route_table(h.clock.now())) == full


class TestHa:
    def test_initial_states_follow_priority(self, world: MakeWorld) -> None:
        h = world(*ha_pair("A", "B"))
        assert (h.fw("A").ha.state, h.fw("B").ha.state) == ("active", "passive")  # type: ignore[union-attr]

    def test_active_reboot_fails_over_and_returns_passive(self, world: MakeWorld) -> None:
        h = world(*ha_pair("A", "B"))
        a, b = h.fw("A"), h.fw("B")
        a.request_restart(0.0)
        h.run_until(lambda: a.phase is Phase.DOWN)
        assert b.ha.state == "active"  # type: ignore[union-attr]
        assert h.events("failover", "B")
        h.run_until(lambda: a.phase is Phase.UP)
        assert a.ha.state == "booting"  # type: ignore[union-attr]
        h.run_until(lambda: a.ha.state == "initial")  # type: ignore[union-attr]
        h.run_until(lambda: a.ha.state == "passive")  # type: ignore[union-attr]
        assert b.ha.state == "active"  # type: ignore[union-attr]

    def test_suspend_fails_over_and_functional_returns_to_passive(self, world: MakeWorld) -> None:
        h = world(*ha_pair("A", "B"))
        a, b = h.fw("A"), h.fw("B")
        a.ha_suspend(0.0)
        assert (a.ha.state, b.ha.state) == ("suspended", "active")  # type: ignore[union-attr]
        a.ha_functional(1.0)
        assert a.ha.state == "initial"  # type: ignore[union-attr]
        h.run_until(lambda: a.ha.state == "passive")  # type: ignore[union-attr]

    def test_preemption_gives_the_active_role_back_to_the_better_priority(self, world: MakeWorld) -> None:
        h = world(*ha_pair("A", "B", preemptive=True))
        a, b = h.fw("A"), h.fw("B")
        reboot(h, "A")
        h.run_until(lambda: a.ha.state == "passive")  # type: ignore[union-attr]
        h.run_until(lambda: a.ha.state == "active")  # type: ignore[union-attr]
        assert b.ha.state == "passive"  # type: ignore[union-attr]
        assert any(e["reason"] == "preemption" for e in h.events("failover", "A"))

    def test_peer_two_releases_behind_suspends(self, world: MakeWorld) -> None:
        h = world(*ha_pair("A", "B", "10.2.9"))
        a, b = h.fw("A"), h.fw("B")
        upgrade(h, "B", "11.0.0")  # passive first: one release apart is allowed
        h.run_until(lambda: b.ha.state == "passive")  # type: ignore[union-attr]
        assert a.ha.state == "active"  # type: ignore[union-attr]
        for version in ("11.1.0", "11.1.6"):
            download(h, "B", version)
        install(h, "B", "11.1.6")
        reboot(h, "B")
        h.run_until(lambda: a.ha.state == "suspended")  # type: ignore[union-attr]
        assert b.ha.state == "active"  # type: ignore[union-attr]
        assert a.ha.auto_reason == "Peer version too old"  # type: ignore[union-attr]


class TestFaults:
    def test_download_fail_fires_count_times(self, world: MakeWorld) -> None:
        h = world(device("A", faults=(Fault.create("download_fail", count=1),)))
        fw = h.fw("A")
        fw.check_software(0.0)
        job = fw.request_download(V("10.2.13"), sync_to_peer=False, user="admin", t=0.0)
        h.run_until(lambda: job.finished)
        assert job.result == "FAIL"
        download(h, "A", "10.2.13")  # the fault has expired

    def test_download_stall_never_finishes(self, world: MakeWorld) -> None:
        h = world(device("A", faults=(Fault.create("download_stall", at_percent=30),)))
        fw = h.fw("A")
        fw.check_software(0.0)
        job = fw.request_download(V("10.2.13"), sync_to_peer=False, user="admin", t=0.0)
        h.advance(5000, step=50)
        assert (job.status, job.percent(h.clock.now())) == ("ACT", 30)

    def test_disk_small_fails_the_download_for_space(self, world: MakeWorld) -> None:
        h = world(device("A", faults=(Fault.create("disk_small", free_mb=200),)))
        fw = h.fw("A")
        fw.check_software(0.0)
        job = fw.request_download(V("10.2.13"), sync_to_peer=False, user="admin", t=0.0)
        h.run_until(lambda: job.finished)
        assert job.result == "FAIL" and "not enough space" in job.details[0]

    def test_install_fail(self, world: MakeWorld) -> None:
        h = world(device("A", downloaded=(V("10.2.13"),), faults=(Fault.create("install_fail"),)))
        job = h.fw("A").request_install(V("10.2.13"), user="admin", t=0.0)
        h.run_until(lambda: job.finished)
        assert job.result == "FAIL" and h.fw("A").pending is None

    def test_reboot_hang_until_cleared(self, world: MakeWorld) -> None:
        h = world(device("A", faults=(Fault.create("reboot_hang"),)))
        fw = h.fw("A")
        fw.request_restart(0.0)
        h.advance(3000, step=20)
        assert fw.phase is Phase.DOWN and not fw.listening
        fw.clear_faults("reboot_hang", h.clock.now())
        h.run_until(lambda: fw.phase is Phase.UP)

    def test_reboot_old_version(self, world: MakeWorld) -> None:
        h = world(device("A", downloaded=(V("10.2.13"),), faults=(Fault.create("reboot_old_version"),)))
        install(h, "A", "10.2.13")
        reboot(h, "A")
        assert h.fw("A").version == V("10.2.9")
        assert h.events("reboot_end", "A")[-1]["result"] == "old-version"

    def test_routes_and_arp_missing_after_upgrade(self, world: MakeWorld) -> None:
        faults = (Fault.create("routes_missing", fraction=0.5), Fault.create("arp_missing", fraction=1.0))
        h = world(device("A", downloaded=(V("10.2.13"),), faults=faults))
        fw = h.fw("A")
        before = len(fw.net.route_table(0.0))
        install(h, "A", "10.2.13")
        reboot(h, "A")
        h.run_until(lambda: fw.net.recovered(h.clock.now()))
        assert len(fw.net.route_table(h.clock.now())) < before
        assert fw.net.arp_table(h.clock.now(), fw.noise()) == []

    def test_update_server_unreachable(self, world: MakeWorld) -> None:
        h = world(device("A", faults=(Fault.create("update_server_unreachable"),)))
        with pytest.raises(OpError, match="generic communication error"):
            h.fw("A").check_software(0.0)

    def test_fault_parameters_are_validated(self) -> None:
        with pytest.raises(ValueError, match="unknown fault kind"):
            Fault.create("meteor")
        with pytest.raises(ValueError, match="rate"):
            Fault.create("http_500", rate=2)
        with pytest.raises(ValueError, match="unknown parameter"):
            Fault.create("reboot_hang", rate=0.5)


def test_same_seed_same_timeline(world: MakeWorld) -> None:
    def timeline(seed: int) -> list[tuple[str, float]]:
        h = world(device("A", downloaded=(V("10.2.13"),)), device("B"), seed=seed)
        install(h, "A", "10.2.13")
        reboot(h, "A")
        h.fw("B").check_software(h.clock.now())
        download(h, "B", "11.0.0")
        return [(e["event"], e["sim_time"]) for e in h.events()]

    assert timeline(1) == timeline(1)
    assert timeline(1) != timeline(2)
