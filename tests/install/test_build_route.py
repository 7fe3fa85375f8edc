"""docs/building.md's route "By hand", followed as written in a scratch
folder: the core built with the page's cmake commands and installed
to a temporary prefix, CoreDNS's source from the module proxy, the plugin.cfg
line, the replace step, go generate, go build with cgo; the binary starts with
no help from the environment.

The cmake build folder is make install's (build/install/core, under its lock):
the same Release build of the core, which another install prefix does not
recompile, so the page's commands rebuild nothing make install built."""

import fcntl
import json
import shutil

import pytest

from conftest import ROOT, clean_env, sh

COREDNS = "github.com/coredns/coredns@v1.14.7"
SHIM = "github.com/coredns-multipass/coredns-multipass/go-shim"


@pytest.mark.slow
def test_the_build_route_gives_a_binary_that_starts(tmp_path):
    route = (ROOT / "docs" / "building.md").read_text()
    for step in ["-require=%s@v0.0.0" % SHIM, "-replace=%s=" % SHIM, "go mod tidy", "go generate", "CGO_ENABLED=1 go build",
                 "-DCMAKE_INSTALL_PREFIX="]:
        assert step in route, "docs/building.md's route lost the step %r" % step

    # The prefix is new each run; the build folder is make install's, taken
    # with its lock (scripts/install-tree.sh) so that no install runs in it
    # meanwhile.
    prefix, build = tmp_path / "prefix", ROOT / "build" / "install" / "core"
    build.mkdir(parents=True, exist_ok=True)
    with open(ROOT / "build" / "install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sh(["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
            "-DMULTIPASS_TEST=OFF", "-DCMAKE_INSTALL_PREFIX=%s" % prefix])
        sh(["cmake", "--build", str(build), "-j2"])
        sh(["cmake", "--install", str(build)])

    src = tmp_path / "coredns"
    info = json.loads(sh(["go", "mod", "download", "-json", COREDNS], cwd=ROOT / "go-shim").stdout)
    shutil.copytree(info["Dir"], src)
    for path in src.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)
    cfg = src / "plugin.cfg"
    cfg.write_text(cfg.read_text().replace("hosts:hosts\n", "hosts:hosts\nmultipass:%s\n" % SHIM))

    env = clean_env(PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"), CGO_ENABLED="1")
    sh(["go", "mod", "edit", "-require=%s@v0.0.0" % SHIM,
        "-replace=%s=%s" % (SHIM, ROOT / "go-shim")], cwd=src, env=env)
    sh(["go", "generate"], cwd=src, env=env)
    sh(["go", "mod", "tidy"], cwd=src, env=env)
    sh(["go", "build"], cwd=src, env=env)

    plugins = sh([str(src / "coredns"), "-plugins"], env=clean_env()).stdout.split()
    assert "multipass" in plugins
