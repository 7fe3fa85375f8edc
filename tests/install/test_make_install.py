"""make install / make uninstall into temporary prefixes, as a user runs them."""

import os
import plistlib
import re
import signal
import subprocess

import pytest

from conftest import (ROOT, answer_of, calls, clean_env, e2e, example_corefile, files_under,
                      make_install, serve, sh)


def runpath(binary):
    out = sh(["readelf", "-d", str(binary)]).stdout
    return re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library (?:runpath|rpath): \[(.*)\]", out)


def test_installed_binary_serves_the_stand_in_fleet(installed, tmp_path):
    binary = installed / "bin" / "coredns-multipass"
    plugins = sh([str(binary), "-plugins"]).stdout.split()
    assert "multipass" in plugins
    ldd = sh(["ldd", str(binary)]).stdout
    assert re.search(r"libcoredns-multipass\.so\.\d+ => %s/lib/" % re.escape(str(installed)), ldd), ldd
    assert runpath(binary) == ["%s/lib" % installed]
    port = e2e.free_port()
    proc = serve(binary, example_corefile(installed / "share" / "coredns-multipass", port, tmp_path),
                 tmp_path)
    try:
        reply = answer_of(port, "primary.vm.internal", proc)
        assert reply.status == "NOERROR"
        assert [r.rdata for r in reply.records("answer", "A")] == ["10.110.24.87"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_install_writes_library_header_and_build_files(installed):
    files = files_under(installed)
    for expected in ["bin/coredns-multipass", "include/multipass/multipass.h",
                     "lib/libcoredns-multipass.a", "lib/libcoredns-multipass.so",
                     "lib/pkgconfig/coredns-multipass.pc", "lib/pkgconfig/coredns-multipass-static.pc",
                     "lib/cmake/coredns-multipass/coredns-multipass-config.cmake",
                     "share/coredns-multipass/Corefile.example",
                     "share/coredns-multipass/coredns-multipass.service",
                     "share/coredns-multipass/io.github.coredns-multipass.plist",
                     "share/coredns-multipass/install-manifest.txt"]:
        assert expected in files
    libs = sh(["pkg-config", "--libs", "coredns-multipass"],
              env=clean_env(PKG_CONFIG_PATH=str(installed / "lib" / "pkgconfig"))).stdout.split()
    assert "-Wl,-rpath,%s/lib" % installed in libs


def test_plist_names_the_installed_program(installed):
    share = installed / "share" / "coredns-multipass"
    plist = plistlib.loads((share / "io.github.coredns-multipass.plist").read_bytes())
    assert plist["Label"] == "io.github.coredns-multipass"
    assert plist["ProgramArguments"] == [
        "%s/bin/coredns-multipass" % installed, "-conf", "%s/etc/coredns-multipass/Corefile" % installed]
    assert plist["KeepAlive"] is True and plist["RunAtLoad"] is True
    assert plist["InitGroups"] is False and plist["StandardOutPath"] == "/var/log/coredns-multipass.log"
    unit = (share / "coredns-multipass.service").read_text()
    assert " -- %s/bin/coredns-multipass -conf " % installed in unit


@pytest.mark.slow
def test_destdir_install_points_at_the_final_prefix(tmp_path, installed):
    # The shared install's prefix, staged under DESTDIR this time: make install
    # keeps one CoreDNS binary per prefix, so this one is not linked again.
    prefix = str(installed)
    make_install(prefix, destdir=tmp_path)
    staged = tmp_path / prefix.lstrip("/")
    binary = staged / "bin" / "coredns-multipass"
    assert runpath(binary) == [prefix + "/lib"]
    pc = (staged / "lib" / "pkgconfig" / "coredns-multipass.pc").read_text()
    assert "prefix=%s\n" % prefix in pc and str(tmp_path) not in pc
    for path in staged.rglob("*"):  # no text file names the staging folder or the checkout
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if data.startswith(b"\x7fELF"):  # binaries: what the loader reads is the RUNPATH
                assert not [d for d in runpath(path) if d.startswith((str(tmp_path), str(ROOT)))]
                continue
            assert str(tmp_path).encode() not in data, path
            assert str(ROOT / "build").encode() not in data, path


@pytest.mark.slow
def test_reinstall_over_a_running_server_then_uninstall_leaves_nothing(tmp_path, standin):
    env, log = standin
    prefix = tmp_path / "prefix"
    make_install(prefix)
    lib = (prefix / "lib" / "libcoredns-multipass.so").resolve()
    before = lib.stat().st_ino
    port = e2e.free_port()
    work = tmp_path / "work"
    work.mkdir()
    proc = serve(prefix / "bin" / "coredns-multipass",
                 example_corefile(prefix / "share" / "coredns-multipass", port, work), work)
    try:
        assert answer_of(port, "primary.vm.internal", proc).status == "NOERROR"
        # An installed service: the unit where install-service.sh puts it.
        service_root = tmp_path / "root"
        (service_root / "etc" / "systemd" / "system").mkdir(parents=True)
        (service_root / "etc" / "systemd" / "system" / "coredns-multipass.service").write_text("")
        env = dict(env, MULTIPASS_SERVICE_ROOT=str(service_root))
        sh(["make", "-s", "install", "PREFIX=%s" % prefix], env=env)
        assert "systemctl try-restart coredns-multipass.service" in calls(log)
        assert lib.stat().st_ino != before  # replaced by a rename, not rewritten in place
        reply = answer_of(port, "web-2.vm.internal", proc)  # the old process still serves
        assert reply.status == "NOERROR"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    make_install(prefix, target="uninstall")
    assert files_under(prefix) == []


def test_make_install_installs_only_what_building_needs():
    """make install runs install-deps.sh build: no test tool (unbound and its
    policy-rc.d, clang, dbus, pytest, ...) goes onto a production host."""
    build = sh(["scripts/install-deps.sh", "build", "--list"]).stdout.split()
    test = sh(["scripts/install-deps.sh", "test", "--list"]).stdout.split()
    assert set(build) < set(test)
    for tool in ("unbound", "clang", "dbus-daemon", "python3-pytest", "libgtest-dev",
                 "bind9-utils", "dnsutils", "systemd"):
        assert tool in test and tool not in build, tool
    plan = sh(["make", "-n", "install", "PREFIX=/nonexistent/prefix"]).stdout
    assert "scripts/install-deps.sh build\n" in plan and "install-deps.sh test" not in plan, plan


@pytest.mark.slow
def test_uninstall_removes_only_what_install_writes(tmp_path, installed):
    """Entries make install never writes (a '..', another file) in the
    manifest: make uninstall refuses and removes nothing."""
    prefix = str(installed)
    make_install(prefix, destdir=tmp_path)  # the shared prefix staged: nothing relinked
    staged = tmp_path / prefix.lstrip("/")
    manifest = staged / "share" / "coredns-multipass" / "install-manifest.txt"
    original = manifest.read_text()
    (tmp_path / "victim").write_text("keep\n")
    uninstall = ["make", "-s", "uninstall", "PREFIX=%s" % prefix, "DESTDIR=%s" % tmp_path]
    for entry in ["f " + "../" * len(staged.relative_to(tmp_path).parts) + "victim",
                  "f share/coredns-multipass/../../../victim", "f etc/passwd", "d etc"]:
        manifest.write_text(original + entry + "\n")
        out = sh(uninstall, check=False)
        assert out.returncode != 0
        assert "names %s, which make install never writes: nothing removed" % (
            entry.replace(" ", "\\ ")) in out.stderr, out.stderr
        assert (staged / "bin" / "coredns-multipass").exists()
        assert (tmp_path / "victim").read_text() == "keep\n"
    manifest.write_text(original)
    sh(uninstall)
    assert [f for f in files_under(tmp_path) if (tmp_path / f).is_file()] == ["victim"]


def test_root_writes_no_prefix_another_user_controls(tmp_path, installed):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    destdir = tmp_path / "theirs"
    destdir.mkdir()
    os.chown(destdir, 65534, 65534)  # nobody's
    out = sh(["make", "-s", "install", "PREFIX=%s" % installed, "DESTDIR=%s" % destdir],
             check=False)
    assert out.returncode != 0
    assert "%s is owned by nobody: root writes and deletes nothing through it" % destdir \
        in out.stderr, out.stderr
    assert files_under(destdir) == []
    for prefix, why in (("/opt/a b", "PREFIX /opt/a\\ b holds a control character, white space"),
                        ("/opt/%h", "PREFIX /opt/%h holds"), ("opt", "PREFIX opt is not an absolute path")):
        out = sh(["make", "-s", "install", "PREFIX=%s" % prefix], check=False)
        assert out.returncode != 0 and why in out.stderr, out.stderr
