"""The Exec lines of a systemd service unit, run in order as systemd runs them
(Type=simple, Restart=on-failure), inside a ResolvedNamespace: the tests'
stand-in for systemd itself, so that what runs is what the unit file says.

Supported: the `-` (a failure is ignored) and `+` (full privileges: the tests
run as root) prefixes, ExecStartPre, ExecStart, ExecStartPost, ExecStopPost,
User= of the user the tests run as, `$MAINPID` (the main process, in the lines
after ExecStart) and `$$` (a dollar sign). Anything else in an Exec line (other
variables, % specifiers) fails loudly. The sandbox (AmbientCapabilities=,
ProtectSystem=, IPAddressDeny=, ...) is not applied: systemd-analyze reads it
(tests/install/test_service_script.py).
"""

import getpass
import re
import shlex
import subprocess
import time

RESTART_SEC = 0.1  # systemd's default RestartSec
LINE_TIMEOUT = 60  # a liveness bound for one line


class UnitFailed(AssertionError):
    pass


class Unit:
    def __init__(self, text):
        self.text = text
        self.service = {}  # key: [values] of the [Service] section, in order
        self.ran = []      # (key, command line, exit code) of every line run
        section = None
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
            elif section == "[Service]":
                key, _, value = line.partition("=")
                self.service.setdefault(key, []).append(value)
        user = self.service.get("User", [getpass.getuser()])[-1]
        assert user == getpass.getuser(), "User=%s: the tests run the unit as %s" % (
            user, getpass.getuser())

    def lines(self, key, mainpid=None):
        """[(failure ignored, argv)] of an Exec key, in order; $MAINPID is mainpid."""
        result = []
        for value in self.service.get(key, []):
            prefix = value[:len(value) - len(value.lstrip("-+@:!"))]
            assert set(prefix) <= set("-+"), "%s=%s: prefix not supported here" % (key, value)
            assert "%" not in value, "%s=%s: specifiers are not supported here" % (key, value)

            def variable(m):
                if m.group(0) == "$$":
                    return "$"
                assert m.group(1) == "MAINPID" and mainpid is not None, \
                    "%s=%s: %s is not supported here" % (key, value, m.group(0))
                return str(mainpid)
            line = re.sub(r"\$\$|\$\{?(\w*)\}?", variable, value[len(prefix):])
            result.append(("-" in prefix, shlex.split(line)))
        return result

    def run_lines(self, ns, key, between=None, main=None, timeout=LINE_TIMEOUT):
        """Runs the key's lines inside ns; between(argv) after each line.
        With main (the main process; its pid is $MAINPID): as systemd does, a
        line still running when main exits is killed and the start fails. A
        line still running after timeout seconds fails too (TimeoutStartSec=)."""
        for ignore, argv in self.lines(key, main.pid if main else None):
            line = ns.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            deadline = time.monotonic() + timeout
            while line.poll() is None:
                exited = main is not None and main.poll() is not None
                if exited or time.monotonic() > deadline:
                    line.kill()
                    line.wait()
                    self.ran.append((key, " ".join(argv), "killed"))
                    raise UnitFailed("%s while %s=%s ran" % (
                        "the main process exited (%s)" % main.returncode if exited
                        else "%g s passed" % timeout, key, " ".join(argv)))
                time.sleep(0.02)
            stderr = line.stderr.read()
            self.ran.append((key, " ".join(argv), line.returncode))
            if line.returncode != 0 and not ignore:
                raise UnitFailed("%s=%s failed (exit %d): %s" % (
                    key, " ".join(argv), line.returncode, stderr.strip()))
            if between:
                between(argv)

    def start(self, ns, env, output, between=None, timeout=LINE_TIMEOUT):
        """systemctl start: the ExecStartPre lines, ExecStart (the main
        process, returned; output is its stdout and stderr), then the
        ExecStartPost lines at once; between(argv) after each line. When a
        line fails, the main process exits while one runs, or one runs longer
        than timeout, the unit is stopped as systemd stops it, and UnitFailed
        is raised."""
        self.run_lines(ns, "ExecStartPre", between)
        [(_, argv)] = self.lines("ExecStart")
        main = ns.popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)
        self.started = time.monotonic()
        self.ran.append(("ExecStart", " ".join(argv), None))
        try:
            self.run_lines(ns, "ExecStartPost", between, main=main, timeout=timeout)
        except UnitFailed:
            self.stop(ns, main)
            raise
        return main

    def stop(self, ns, main):
        """systemctl stop: SIGTERM to the main process, then the ExecStopPost lines."""
        if main.poll() is None:
            main.terminate()
            try:
                main.wait(timeout=15)
            except subprocess.TimeoutExpired:
                main.kill()
                main.wait()
        self.run_lines(ns, "ExecStopPost")

    def crash(self, ns, main, env, output, between=None):
        """The main process killed (SIGKILL), then what Restart=on-failure
        does: the ExecStopPost lines, RestartSec, a start. Returns the new
        main process (its start time: .started)."""
        main.kill()
        main.wait()
        self.run_lines(ns, "ExecStopPost")
        time.sleep(RESTART_SEC)
        return self.start(ns, env, output, between)

    def with_main(self, command):
        """This unit with ExecStart=command."""
        lines = [("ExecStart=" + command) if l.startswith("ExecStart=") else l
                 for l in self.text.splitlines()]
        return Unit("\n".join(lines) + "\n")

    def without(self, *words):
        """This unit without the Exec lines that contain any of words."""
        kept = [l for l in self.text.splitlines()
                if not (l.startswith("Exec") and any(w in l for w in words))]
        return Unit("\n".join(kept) + "\n")

    def moved_first(self, word):
        """This unit with the ExecStartPost line that contains word run first of them."""
        lines = self.text.splitlines()
        moving = [l for l in lines if l.startswith("ExecStartPost=") and word in l]
        assert len(moving) == 1, (word, moving)
        rest = [l for l in lines if l != moving[0]]
        first = next(i for i, l in enumerate(rest) if l.startswith("ExecStartPost="))
        return Unit("\n".join(rest[:first] + moving + rest[first:]) + "\n")
