"""The stand-in CLI behaves like the real `multipass list --format=json`.

Every other end-to-end test trusts the stand-in, so it is held to the reference
in tests/fixtures (verbatim copies of what the real CLI prints) and to
/work/shared/multipass-cli/errors.md, copied into the expectations below.
These tests do not need build/coredns.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import FAKE_CLI, FIXTURES, FakeCLI, eventually, make_fleet, process_alive

REAL_FIXTURES = sorted(p.name for p in FIXTURES.glob("list-*.json"))


def run(*args, env=None, fake_dir=None, **kw):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MULTIPASS_")}
    full_env.update(env or {})
    if fake_dir is not None:
        full_env["MULTIPASS_FAKE_DIR"] = str(fake_dir)
    return subprocess.run([str(FAKE_CLI)] + list(args), env=full_env,
                          capture_output=True, timeout=30, **kw)


def test_real_fixtures_are_all_present():
    assert {"list-empty.json", "list-one-running.json", "list-mixed.json",
            "list-edge-cases.json", "list-mixed.v1.8-v1.10.json",
            "list-mixed.main-unreleased.json", "list-empty.main-unreleased.json",
            "list-snapshots-empty.json"} <= set(REAL_FIXTURES)


@pytest.mark.parametrize("fixture", REAL_FIXTURES)
def test_prints_the_listing_byte_for_byte(fixture, tmp_path):
    expected = (FIXTURES / fixture).read_bytes()
    by_env = run("list", "--format=json", env={"MULTIPASS_FAKE_LIST": str(FIXTURES / fixture)})
    cli = FakeCLI(tmp_path)
    cli.set_listing(fixture)
    by_dir = run("list", "--format", "json", fake_dir=tmp_path)
    for result in (by_env, by_dir):
        assert (result.returncode, result.stdout, result.stderr) == (0, expected, b"")


def test_serves_the_demo_fleet_when_nothing_is_configured(tmp_path):
    expected = (FIXTURES / "demo-fleet.json").read_bytes()
    assert run("list", "--format=json").stdout == expected
    assert run("list", "--format=json", fake_dir=tmp_path).stdout == expected


def test_demo_fleet_has_the_documented_vms_in_the_real_layout():
    raw = (FIXTURES / "demo-fleet.json").read_text()
    vms = json.loads(raw)["list"]
    assert make_fleet.render(vms) == raw
    by_name = {vm["name"]: vm for vm in vms}
    assert by_name["primary"]["ipv4"] == ["10.110.24.87"]
    assert by_name["primary"]["state"] == "Running"
    assert len(by_name["k8s-node-01"]["ipv4"]) == 3
    assert "172.17.0.1" in by_name["k8s-node-01"]["ipv4"]
    for name in ("web-2", "db", "Build-Box"):
        assert by_name[name]["state"] == "Running" and by_name[name]["ipv4"]
    assert by_name["calm-squirrel"]["state"] == "Stopped"
    assert by_name["dev-box"]["state"] == "Suspended"
    assert vms[-1]["name"] == "old-builder-2" and vms[-1]["state"] == "Deleted"


@pytest.mark.parametrize("fixture", ["list-mixed.json", "list-edge-cases.json",
                                     "list-empty.json", "list-one-running.json"])
def test_make_fleet_renders_the_real_layout(fixture):
    raw = (FIXTURES / fixture).read_text()
    assert make_fleet.render(json.loads(raw)["list"]) == raw


def test_make_fleet_writes_n_running_vms():
    out = subprocess.run([sys.executable, str(FIXTURES / "make_fleet.py"), "300"],
                         capture_output=True, text=True, check=True).stdout
    vms = json.loads(out)["list"]
    assert [vm["name"] for vm in vms[:2]] == ["vm-00001", "vm-00002"]
    assert vms[-1] == {"ipv4": ["10.0.1.44"], "name": "vm-00300",
                       "release": "Ubuntu 24.04 LTS", "state": "Running"}
    assert len({vm["ipv4"][0] for vm in vms}) == 300
    assert make_fleet.render(vms) == out


# errors.md, section 7, and the stand-in's own limits.
MISUSE = [
    (["list", "foo"], b"This command takes no arguments\n", 1),
    (["list", "--format=json", "foo"], b"This command takes no arguments\n", 1),
    (["list", "--format=JSON"], b"Invalid format type given.\n", 1),
    (["list", "--format", "xml"], b"Invalid format type given.\n", 1),
    (["list", "--bogus"], b"Unknown option 'bogus'.\n", 1),
    (["list", "--bogus", "foo"], b"Unknown option 'bogus'.\n", 1),
    (["list", "--format"], b"Missing value after '--format'.\n", 1),
    (["list", "--snapshots", "--no-ipv4"],
     b"IP addresses are not applicable in conjunction with listing snapshots\n", 1),
]


@pytest.mark.parametrize("args,stderr,code", MISUSE)
def test_misuse_fails_like_the_real_cli(args, stderr, code):
    result = run(*args)
    assert (result.returncode, result.stdout, result.stderr) == (code, b"", stderr)


@pytest.mark.parametrize("args,code", [(["launch"], 1), ([], 1), (["list"], 97),
                                       (["list", "--format=yaml"], 97),
                                       (["list", "--no-ipv4"], 97),
                                       (["list", "--format=csv", "--no-ipv4"], 97)])
def test_what_the_stand_in_does_not_implement_fails_clearly(args, code):
    result = run(*args)
    assert result.returncode == code and result.stdout == b""
    assert result.stderr.startswith(b"fake multipass: only")


def test_verbosity_options_are_accepted():
    for flag in ("-v", "-vvvv", "--verbose"):
        assert run("list", flag, "--format=json").returncode == 0


LISTING = (FIXTURES / "list-mixed.json").read_bytes()
NO_AUTH = (b"list failed: The client is not authenticated with the Multipass service.\n"
           b"Please use 'multipass authenticate' before proceeding.\n")

# mode -> (exit code, stdout, stderr): errors.md sections 1, 3, 5 and 8.
MODES = {
    "ok": (0, LISTING, b""),
    "ok-warning": (0, LISTING, b"*** Warning! The lxd driver is deprecated and will be "
                               b"removed in an future release. ***\n"),
    "no-daemon": (2, b"", b"list failed: cannot connect to the multipass socket\n"),
    "no-auth": (2, b"", NO_AUTH),
    "bad-address": (1, b"", b"[error] [client] Caught an unhandled exception: "
                            b"missing port number in address 'foo'\n"),
    "truncated": (0, LISTING[:len(LISTING) // 2], b""),
    "empty": (0, b"", b""),
    "slow:0.2": (0, LISTING, b""),
    "huge:0.5": (0, b" " * (512 << 10) + LISTING, b""),
    "bogus": (97, b"", b"fake multipass: unknown mode 'bogus'\n"),
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_modes(mode, tmp_path):
    cli = FakeCLI(tmp_path)
    cli.set_listing("list-mixed.json")
    cli.set_mode(mode)
    result = run("list", "--format=json", fake_dir=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == MODES[mode]
    by_env = run("list", "--format=json", env={"MULTIPASS_FAKE_MODE": mode,
                                               "MULTIPASS_FAKE_LIST": str(FIXTURES / "list-mixed.json")})
    assert (by_env.returncode, by_env.stdout, by_env.stderr) == MODES[mode]


def test_garbage_is_not_json(tmp_path):
    FakeCLI(tmp_path).set_mode("garbage")
    result = run("list", "--format=json", fake_dir=tmp_path)
    assert result.returncode == 0 and result.stdout and result.stderr == b""
    with pytest.raises(ValueError):
        json.loads(result.stdout)


def test_mode_and_listing_are_read_again_on_every_run(tmp_path):
    cli = FakeCLI(tmp_path)
    cli.set_listing("list-one-running.json")
    assert run("list", "--format=json", fake_dir=tmp_path).stdout == \
        (FIXTURES / "list-one-running.json").read_bytes()
    cli.set_mode("no-daemon")
    assert run("list", "--format=json", fake_dir=tmp_path).returncode == 2
    cli.set_mode("ok")
    cli.set_listing("list-empty.json")
    assert run("list", "--format=json", fake_dir=tmp_path).stdout == \
        (FIXTURES / "list-empty.json").read_bytes()


def test_flap_alternates_ok_and_no_daemon(tmp_path):
    FakeCLI(tmp_path).set_mode("flap")
    codes = [run("list", "--format=json", fake_dir=tmp_path).returncode for _ in range(5)]
    assert codes == [0, 2, 0, 2, 0]


def test_every_run_is_logged_once_with_its_environment(tmp_path):
    cli = FakeCLI(tmp_path)
    run("list", "--format=json", fake_dir=tmp_path)
    run("list", "foo", fake_dir=tmp_path, env={"MULTIPASS_SERVER_ADDRESS": "10.0.0.5:50051"})
    runs = cli.runs()
    assert [(r["server_address"], r["args"]) for r in runs] == [
        ("-", "list --format=json"), ("10.0.0.5:50051", "list foo")]
    assert all(r["pid"] > 0 and r["pgid"] > 0 for r in runs)


def test_concurrent_runs_never_interleave_log_lines(tmp_path):
    cli = FakeCLI(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MULTIPASS_")}
    env["MULTIPASS_FAKE_DIR"] = str(tmp_path)
    procs = [subprocess.Popen([str(FAKE_CLI), "list", "--format=json"], env=env,
                              stdout=subprocess.DEVNULL) for _ in range(20)]
    assert [p.wait(timeout=30) for p in procs] == [0] * 20
    assert sorted(r["pid"] for r in cli.runs()) == sorted(p.pid for p in procs)


def test_run_log_from_the_environment(tmp_path):
    log = tmp_path / "runs.log"
    for _ in range(2):
        run("list", "--format=json", env={"MULTIPASS_FAKE_RUNS": str(log),
                                          "MULTIPASS_FAKE_MODE": "flap"})
    assert len(log.read_text().splitlines()) == 2


def start(fake_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MULTIPASS_")}
    env["MULTIPASS_FAKE_DIR"] = str(fake_dir)
    return subprocess.Popen([str(FAKE_CLI), "list", "--format=json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def test_hang_never_answers(tmp_path):
    FakeCLI(tmp_path).set_mode("hang")
    proc = start(tmp_path)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.communicate(timeout=1)
    finally:
        proc.kill()
    out, err = proc.communicate()
    assert (out, err) == (b"", b"")


def test_hang_child_leaves_a_child_in_its_process_group(tmp_path):
    cli = FakeCLI(tmp_path)
    cli.set_mode("hang-child")
    proc = start(tmp_path)
    try:
        child = eventually(cli.child_pid, 10, "child.pid written")
        assert process_alive(child)
        assert os.getpgid(child) == proc.pid  # proc leads its own session and group
        proc.kill()  # the parent alone: the child still holds stdout open
        with pytest.raises(subprocess.TimeoutExpired):
            proc.communicate(timeout=0.5)
        assert process_alive(child)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
    assert proc.communicate(timeout=10) == (b"", b"")
    eventually(lambda: not process_alive(child), 10, "child gone after killing the group")


def test_a_closed_stdout_ends_the_stand_in_quietly(tmp_path):
    FakeCLI(tmp_path).set_mode("huge:8")
    proc = start(tmp_path)
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=10) == -signal.SIGPIPE
    assert err == b""



# --------------------------------------------------------------------------
# The cheap listing (--no-ipv4), the old CLI, and what a full listing costs.

# Written independently of the stand-in: line by line, an `"ipv4": [` line,
# then its entries, then `]` at the key's indentation.
IPV4_ARRAY = re.compile(rb'(?m)^( *)"ipv4": \[\n(?:.*\n)*?\1\]')


def emptied(listing):
    """listing with every ipv4 array empty, as the real formatter prints []."""
    return IPV4_ARRAY.sub(rb'\1"ipv4": [\n\1]', listing)


def session_count(listing):
    """Running or Delayed Shutdown instances: multipass's is_running()."""
    return sum(vm["state"] in ("Running", "Delayed Shutdown")
               for vm in json.loads(listing)["list"])


PROBE_ORDERS = [["--format=json", "--no-ipv4"], ["--no-ipv4", "--format=json"],
                ["--no-ipv4", "--format", "json"], ["-v", "--no-ipv4", "--format=json"],
                ["--format", "json", "--verbose", "--no-ipv4"]]
LISTINGS = sorted(set(REAL_FIXTURES) - {"list-snapshots-empty.json"}) + ["demo-fleet.json"]


@pytest.mark.parametrize("fixture", LISTINGS)
def test_no_ipv4_prints_the_listing_with_empty_ipv4_arrays(fixture, tmp_path):
    full = (FIXTURES / fixture).read_bytes()
    cli = FakeCLI(tmp_path)
    cli.set_listing(fixture)
    for args in PROBE_ORDERS:
        by_dir = run("list", *args, fake_dir=tmp_path)
        by_env = run("list", *args, env={"MULTIPASS_FAKE_LIST": str(FIXTURES / fixture)})
        for result in (by_dir, by_env):
            assert (result.returncode, result.stdout, result.stderr) == (0, emptied(full), b"")
    doc, full_doc = json.loads(by_dir.stdout), json.loads(full)
    assert [vm["ipv4"] for vm in doc["list"]] == [[]] * len(full_doc["list"])
    for vm in full_doc["list"]:
        vm["ipv4"] = []
    assert doc == full_doc  # the same instances, keys and values in the same order


def test_no_ipv4_prints_an_empty_array_as_the_real_cli_does(tmp_path):
    FakeCLI(tmp_path).set_listing("list-mixed.json")
    out = run("list", "--format=json", "--no-ipv4", fake_dir=tmp_path).stdout
    # 12 spaces before the key and the bracket, exactly as for a Stopped VM.
    assert out.count(b'            "ipv4": [\n            ],\n') == 6
    assert (FIXTURES / "list-mixed.json").read_bytes().count(
        b'            "ipv4": [\n            ],\n') == 4
    assert out.endswith(b"}\n")
    # Nothing to empty: byte for byte the configured listing.
    for fixture in ("list-empty.json", "list-empty.main-unreleased.json"):
        FakeCLI(tmp_path).set_listing(fixture)
        assert run("list", "--no-ipv4", "--format=json", fake_dir=tmp_path).stdout == \
            (FIXTURES / fixture).read_bytes()


def test_no_ipv4_is_the_default_demo_fleet_too():
    full = (FIXTURES / "demo-fleet.json").read_bytes()
    assert run("list", "--format=json", "--no-ipv4").stdout == emptied(full)


def test_snapshots_with_no_ipv4_keeps_its_error():
    result = run("list", "--format=json", "--no-ipv4", "--snapshots")
    assert (result.returncode, result.stdout, result.stderr) == (
        1, b"", b"IP addresses are not applicable in conjunction with listing snapshots\n")


PROBE_LISTING = emptied(LISTING)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_modes_apply_to_the_cheap_listing(mode, tmp_path):
    cli = FakeCLI(tmp_path)
    cli.set_listing("list-mixed.json")
    cli.set_mode(mode)
    code, out, err = MODES[mode]
    out = out.replace(LISTING, PROBE_LISTING) if LISTING in out else \
        PROBE_LISTING[:len(PROBE_LISTING) // 2] if mode == "truncated" else out
    result = run("list", "--no-ipv4", "--format=json", fake_dir=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (code, out, err)


def test_run_log_records_kind_and_guest_sessions(tmp_path):
    cli = FakeCLI(tmp_path)
    cli.set_listing("list-edge-cases.json")  # one Running ("N/A"), one Delayed Shutdown
    run("list", "--format=json", fake_dir=tmp_path)
    run("list", "--no-ipv4", "--format=json", fake_dir=tmp_path)
    run("list", "--snapshots", "--no-ipv4", fake_dir=tmp_path)
    run("launch", fake_dir=tmp_path)
    cli.set_listing("list-mixed.json")
    run("list", "--format", "json", fake_dir=tmp_path)
    cli.set_mode("no-daemon")  # a full listing that never reaches a guest
    run("list", "--format=json", fake_dir=tmp_path)
    runs = cli.runs()
    assert [(r["args"], r["kind"], r["sessions"]) for r in runs] == [
        ("list --format=json", "full", 2),
        ("list --no-ipv4 --format=json", "probe", 0),
        ("list --snapshots --no-ipv4", "probe", 0),
        ("launch", "-", 0),
        ("list --format json", "full", 2),
        ("list --format=json", "full", 0)]
    assert session_count((FIXTURES / "list-edge-cases.json").read_bytes()) == 2
    assert session_count(LISTING) == 2
    assert (cli.run_count(), cli.run_count("full"), cli.run_count("probe")) == (6, 3, 2)
    assert cli.guest_sessions() == 4


def test_run_log_counts_the_sessions_of_the_demo_fleet_and_a_generated_fleet(tmp_path):
    cli = FakeCLI(tmp_path)
    run("list", "--format=json", fake_dir=tmp_path)
    fleet = make_fleet.render([{"ipv4": ["10.0.0.%d" % i], "name": "vm-%d" % i,
                                "release": "Ubuntu 24.04 LTS", "state": "Running"}
                               for i in range(1, 11)])
    cli.set_listing(fleet)
    run("list", "--format=json", fake_dir=tmp_path)
    demo = session_count((FIXTURES / "demo-fleet.json").read_bytes())
    assert demo > 0
    assert [r["sessions"] for r in cli.runs()] == [demo, 10]


def test_run_log_lines_keep_the_old_format_as_their_prefix(tmp_path):
    log = tmp_path / "runs.log"
    run("list", "--no-ipv4", "--format=json", env={"MULTIPASS_FAKE_RUNS": str(log),
                                                   "MULTIPASS_SERVER_ADDRESS": "h:1"})
    line = log.read_text()
    assert re.fullmatch(r"pid=\d+ pgid=\d+ server_address=h:1 "
                        r"args=list --no-ipv4 --format=json kind=probe sessions=0\n", line)
    # A reader of the old format (args = the rest of the line) still accepts it.
    old = re.match(r"pid=(\d+) pgid=(\d+) server_address=(\S+) args=(.*)$", line)
    assert old and old.group(4).startswith("list --no-ipv4 --format=json")


OLD_CLI_REJECTS = b"Unknown option 'no-ipv4'.\n"


@pytest.mark.parametrize("args", PROBE_ORDERS + [["--snapshots", "--no-ipv4"],
                                                 ["--no-ipv4", "--snapshots"]])
def test_an_old_cli_rejects_no_ipv4(args, tmp_path):
    cli = FakeCLI(tmp_path)
    cli.set_old_cli()
    by_dir = run("list", *args, fake_dir=tmp_path)
    by_env = run("list", *args, env={"MULTIPASS_FAKE_OLD_CLI": "1"})
    for result in (by_dir, by_env):
        assert (result.returncode, result.stdout, result.stderr) == (1, b"", OLD_CLI_REJECTS)
    assert [(r["kind"], r["sessions"]) for r in cli.runs()] == [("probe", 0)]


def test_an_old_cli_still_lists_in_full(tmp_path):
    cli = FakeCLI(tmp_path)
    cli.set_listing("list-mixed.json")
    cli.set_old_cli()
    result = run("list", "--format=json", fake_dir=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, LISTING, b"")
    cli.set_old_cli(False)  # upgraded: the flag works again
    assert run("list", "--no-ipv4", "--format=json", fake_dir=tmp_path).stdout == PROBE_LISTING
    assert [(r["kind"], r["sessions"]) for r in cli.runs()] == [("full", 2), ("probe", 0)]
    for off in ("", "0"):
        assert run("list", "--no-ipv4", "--format=json",
                   env={"MULTIPASS_FAKE_OLD_CLI": off}).returncode == 0


def test_guest_delay_applies_to_full_listings_only(tmp_path):
    cli = FakeCLI(tmp_path)
    cli.set_listing("list-mixed.json")  # two running VMs
    cli.set_guest_delay_ms(300)
    t0 = time.monotonic()
    result = run("list", "--format=json", fake_dir=tmp_path)
    assert time.monotonic() - t0 >= 0.6  # 2 sessions x 300 ms, a lower bound only
    assert (result.returncode, result.stdout) == (0, LISTING)
    # Ten minutes a session: a cheap listing, or a mode that reaches no guest,
    # that paid for sessions would not finish within run()'s 30 s timeout.
    cli.set_guest_delay_ms(600000)
    assert run("list", "--no-ipv4", "--format=json", fake_dir=tmp_path).stdout == PROBE_LISTING
    cli.set_mode("no-daemon")
    assert run("list", "--format=json", fake_dir=tmp_path).returncode == 2
    cli.set_mode("ok")
    cli.set_listing("list-empty.json")  # no running VM: no session to pay for
    assert run("list", "--format=json", fake_dir=tmp_path).returncode == 0
    assert [(r["kind"], r["sessions"]) for r in cli.runs()] == [
        ("full", 2), ("probe", 0), ("full", 0), ("full", 0)]


def test_guest_delay_from_the_environment(tmp_path):
    log = tmp_path / "runs.log"
    env = {"MULTIPASS_FAKE_RUNS": str(log), "MULTIPASS_FAKE_GUEST_DELAY_MS": "150",
           "MULTIPASS_FAKE_LIST": str(FIXTURES / "list-mixed.json")}
    t0 = time.monotonic()
    assert run("list", "--format=json", env=env).stdout == LISTING
    assert time.monotonic() - t0 >= 0.3
    env["MULTIPASS_FAKE_GUEST_DELAY_MS"] = "600000"
    assert run("list", "--format=json", "--no-ipv4", env=env).stdout == PROBE_LISTING
    assert [line.rsplit(" ", 2)[1:] for line in log.read_text().splitlines()] == [
        ["kind=full", "sessions=2"], ["kind=probe", "sessions=0"]]


@pytest.mark.parametrize("delay", ["x", "-1"])
def test_a_bad_guest_delay_is_a_configuration_error(delay, tmp_path):
    (tmp_path / "guest-delay-ms").write_text(delay + "\n")
    result = run("list", "--format=json", fake_dir=tmp_path)
    assert (result.returncode, result.stdout) == (97, b"")
    assert result.stderr.startswith(b"fake multipass: bad guest delay")


# --------------------------------------------------------------------------
# the timeline: a lifecycle played over time


def vm(name, state, *ipv4):
    return {"ipv4": list(ipv4), "name": name, "release": "Ubuntu 24.04 LTS", "state": state}


LIFECYCLE = """\
0    web      Running 10.0.0.1
0    calm     Stopped
2    calm     Starting
4    calm     Running N/A
6    calm     Running 10.0.0.2 172.17.0.1
8    calm     Restarting
10   calm     Running 10.0.0.3
12   calm     Suspending
13   calm     Suspended
14   calm     Delayed Shutdown 10.0.0.3
16   calm     Deleted
18   calm     purged
20   calm     Starting
22   calm     Running 10.0.0.9
"""


@pytest.mark.parametrize("seconds,expected", [
    (1, [vm("web", "Running", "10.0.0.1"), vm("calm", "Stopped")]),
    (3, [vm("web", "Running", "10.0.0.1"), vm("calm", "Starting")]),
    (5, [vm("web", "Running", "10.0.0.1"), vm("calm", "Running", "N/A")]),
    (7, [vm("web", "Running", "10.0.0.1"), vm("calm", "Running", "10.0.0.2", "172.17.0.1")]),
    (9, [vm("web", "Running", "10.0.0.1"), vm("calm", "Restarting")]),
    (11, [vm("web", "Running", "10.0.0.1"), vm("calm", "Running", "10.0.0.3")]),
    (13.5, [vm("web", "Running", "10.0.0.1"), vm("calm", "Suspended")]),
    (15, [vm("web", "Running", "10.0.0.1"), vm("calm", "Delayed Shutdown", "10.0.0.3")]),
    (17, [vm("web", "Running", "10.0.0.1"), vm("calm", "Deleted")]),
    (19, [vm("web", "Running", "10.0.0.1")]),
    (23, [vm("web", "Running", "10.0.0.1"), vm("calm", "Running", "10.0.0.9")]),
])
def test_a_timeline_plays_a_lifecycle_in_the_real_layout(seconds, expected, tmp_path):
    cli = FakeCLI(tmp_path)
    cli.set_listing("list-mixed.json")  # the timeline wins over list.json
    cli.set_timeline(LIFECYCLE, start=time.time() - seconds)
    full = run("list", "--format=json", fake_dir=tmp_path)
    assert (full.returncode, full.stdout.decode(), full.stderr) == (
        0, make_fleet.render(expected), b"")
    cheap = run("list", "--format=json", "--no-ipv4", fake_dir=tmp_path)
    assert cheap.stdout.decode() == make_fleet.render([dict(v, ipv4=[]) for v in expected])
    running = sum(v["state"] in ("Running", "Delayed Shutdown") for v in expected)
    assert [(r["kind"], r["sessions"]) for r in cli.runs()] == [("full", running),
                                                                ("probe", 0)]


def test_deleted_instances_are_listed_last(tmp_path):
    cli = FakeCLI(tmp_path)
    cli.set_timeline("0 gone Deleted\n0 a Running 10.0.0.1\n0 b Stopped\n")
    doc = json.loads(run("list", "--format=json", fake_dir=tmp_path).stdout)
    assert [(v["name"], v["state"]) for v in doc["list"]] == [
        ("a", "Running"), ("b", "Stopped"), ("gone", "Deleted")]


def test_main_fails_full_listings_while_a_vm_has_no_address(tmp_path):
    cli = FakeCLI(tmp_path)
    start = cli.set_timeline("cli main\nbanner\n0 web Running 10.0.0.1\n"
                             "0 boot Starting\n1 boot Running N/A\n100 boot Running 10.0.0.2\n",
                             start=time.time() - 2)
    banner = b"*** Warning! The lxd driver is deprecated and will be removed in an " \
             b"future release. ***\n"
    full = run("list", "--format=json", fake_dir=tmp_path)
    assert (full.returncode, full.stdout, full.stderr) == (
        2, b"", banner + b"list failed: IP not available\n")
    # The cheap listing asks no guest: it works, in main's layout.
    cheap = run("list", "--format=json", "--no-ipv4", fake_dir=tmp_path)
    assert (cheap.returncode, cheap.stderr) == (0, banner)
    doc = json.loads(cheap.stdout)
    assert [list(v) for v in doc["list"]] == [["name", "state", "ipv4", "release", "zone"]] * 2
    assert [(v["name"], v["state"], v["ipv4"]) for v in doc["list"]] == [
        ("web", "Running", []), ("boot", "Running", [])]
    # The address is known: the full listing works again, no "N/A" on main.
    cli.set_timeline("cli main\nbanner\n0 web Running 10.0.0.1\n0 boot Running 10.0.0.2\n",
                     start=start)
    full = run("list", "--format=json", fake_dir=tmp_path)
    assert (full.returncode, full.stderr) == (0, banner)
    doc = json.loads(full.stdout)
    assert doc["list"][1] == {"name": "boot", "state": "Running", "ipv4": ["10.0.0.2"],
                              "release": "Ubuntu 24.04 LTS",
                              "zone": {"name": "zone1", "available": True}}
    # The layout is main's own, byte for byte as in its fixture.
    fixture = (FIXTURES / "list-mixed.main-unreleased.json").read_text()
    first = fixture[:fixture.index("        },") + len("        },")]
    assert full.stdout.decode().startswith(first.replace("primary", "web").replace(
        "10.110.24.87", "10.0.0.1"))
    assert [(r["kind"], r["sessions"]) for r in cli.runs()] == [
        ("full", 0), ("probe", 0), ("full", 2)]


def test_a_timeline_without_start_runs_from_its_modification(tmp_path):
    (tmp_path / "timeline").write_text("0 now Running 10.0.0.1\n3600 later Stopped\n")
    doc = json.loads(run("list", "--format=json", fake_dir=tmp_path).stdout)
    assert [v["name"] for v in doc["list"]] == ["now"]
    env = {"MULTIPASS_FAKE_TIMELINE": str(tmp_path / "timeline")}
    assert run("list", "--format=json", env=env).stdout == \
        run("list", "--format=json", fake_dir=tmp_path).stdout


def test_modes_apply_over_a_timeline(tmp_path):
    cli = FakeCLI(tmp_path)
    cli.set_timeline("0 web Running 10.0.0.1\n")
    cli.set_mode("no-daemon")
    result = run("list", "--format=json", fake_dir=tmp_path)
    assert (result.returncode, result.stderr) == (2, MODES["no-daemon"][2])
    cli.set_mode("ok-warning")
    result = run("list", "--format=json", fake_dir=tmp_path)
    assert result.returncode == 0 and result.stdout.decode() == make_fleet.render(
        [vm("web", "Running", "10.0.0.1")])


@pytest.mark.parametrize("line", ["x web Running", "0 web", "0 web Sleeping",
                                  "0 web Stopped 10.0.0.1", "cli 1.12", "start soon"])
def test_a_bad_timeline_is_a_configuration_error(line, tmp_path):
    (tmp_path / "timeline").write_text("0 ok Running 10.0.0.1\n%s\n" % line)
    result = run("list", "--format=json", fake_dir=tmp_path)
    assert (result.returncode, result.stdout) == (97, b"")
    assert result.stderr.startswith(b"fake multipass: timeline line 2 (%s)" % line.encode())
