"""The stand-in CLI behaves like the real `multipass list --format=json`.

Every other end-to-end test trusts the stand-in, so it is held to the reference
in tests/fixtures (verbatim copies of what the real CLI prints) and to
/work/shared/multipass-cli/errors.md, copied into the expectations below.
These tests do not need build/coredns.
"""

import json
import os
import signal
import subprocess
import sys

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
                                       (["list", "--format=yaml"], 97)])
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

