#!/usr/bin/env python3
"""Zone transfers and NOTIFY of build/coredns (issue 27).

    transfer_bench.py --root REPO --work DIR --out transfer.json [--md transfer.md]

  axfr    the time (from the question to the message with the closing SOA)
          and size of an AXFR of 1,000 and 10,000 VMs from the plugin, against
          the same zone served by CoreDNS's own `file` plugin in the same run
          (alternated, the median of each)
  notify  a VM that flaps every second for a minute (Running with an address,
          then Stopped, ...): the NOTIFYs a secondary's port receives per
          zone, against the changes of the zone's serial seen by asking for
          its SOA every 100 ms, at the default probe (5 s) and at probe 1s

Standard library, dig and the stand-in CLI. Nothing is asserted: a benchmark
reports.
"""

import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dns_bench as db  # noqa: E402  (free_port, soa_serial)

ZONE = "vm.test"
REVERSE = "0.0.10.in-addr.arpa"


def start(root, work, name, corefile, fake_dir):
    """A build/coredns with `corefile`; its log in work/NAME.log."""
    path = os.path.join(work, name + ".Corefile")
    with open(path, "w") as f:
        f.write(corefile)
    log = open(os.path.join(work, name + ".log"), "w")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MULTIPASS_")}
    env["MULTIPASS_FAKE_DIR"] = fake_dir
    return subprocess.Popen([os.path.join(root, "build", "coredns"), "-conf", path],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_serial(port, zone, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        serial = db.soa_serial(port, zone)
        if serial:
            return serial
        time.sleep(0.1)
    raise RuntimeError("no SOA for %s on port %d" % (zone, port))


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise RuntimeError("the connection closed mid-transfer")
        data += chunk
    return data


def axfr(port, zone):
    """(milliseconds, records, messages, bytes) of one AXFR over TCP, timed
    from the question to the message with the closing SOA."""
    wire = b"".join(bytes([len(l)]) + l.encode() for l in zone.split(".")) + b"\0"
    query = struct.pack(">HHHHHH", 0x4242, 0, 1, 0, 0, 0) + wire + struct.pack(">HH", 252, 1)
    records = messages = size = soas = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        began = time.perf_counter()
        sock.sendall(struct.pack(">H", len(query)) + query)
        while soas < 2:
            length = struct.unpack(">H", read_exactly(sock, 2))[0]
            msg = read_exactly(sock, length)
            messages, size = messages + 1, size + length
            if msg[3] & 0xF:
                raise RuntimeError("AXFR of %s: rcode %d" % (zone, msg[3] & 0xF))
            qd, an = struct.unpack(">HH", msg[4:8])
            pos = 12
            for _ in range(qd):
                pos = db.skip_name(msg, pos) + 4
            for _ in range(an):
                pos = db.skip_name(msg, pos)
                rtype, _, _, rdlength = struct.unpack(">HHIH", msg[pos:pos + 10])
                pos += 10 + rdlength
                records += 1
                soas += rtype == 6
        took = time.perf_counter() - began
    return took * 1000, records, messages, size


def zone_file(vms, serial):
    """The zone the plugin transfers, as a file for the file plugin."""
    lines = ["$ORIGIN %s." % ZONE,
             "@ 5 IN SOA ns1.%s. hostmaster.%s. %d 300 60 604800 5" % (ZONE, ZONE, serial),
             "@ 10 IN NS ns1.%s." % ZONE, "ns1 10 IN A 127.0.0.1"]
    lines += ["%s 10 IN A %s" % (vm["name"], vm["ipv4"][0]) for vm in vms]
    return "\n".join(lines) + "\n"


def measure_axfr(args, fleet):
    work = os.path.join(args.work, "axfr-%d" % len(fleet))
    os.makedirs(os.path.join(work, "fake"), exist_ok=True)
    with open(os.path.join(work, "fake", "list.json"), "w") as f:
        f.write(fleet_module(args).render(fleet))
    with open(os.path.join(work, "zone"), "w") as f:
        f.write(zone_file(fleet, 1))
    mp_port, file_port = db.free_port(), db.free_port()
    corefile = """\
%(zone)s:%(mp)d {
    bind 127.0.0.1
    multipass {
        binary %(cli)s
        refresh 1h
    }
    transfer {
        to *
    }
}
%(zone)s:%(file)d {
    bind 127.0.0.1
    file %(zonefile)s {
        reload 0
    }
    transfer {
        to *
    }
}
""" % {"zone": ZONE, "mp": mp_port, "file": file_port, "cli": args.cli,
       "zonefile": os.path.join(work, "zone")}
    proc = start(args.root, work, "coredns", corefile, os.path.join(work, "fake"))
    try:
        wait_serial(mp_port, ZONE)
        wait_serial(file_port, ZONE)
        axfr(mp_port, ZONE), axfr(file_port, ZONE)  # warm up
        runs = {"multipass": [], "file": []}
        for _ in range(args.repeats):
            runs["multipass"].append(axfr(mp_port, ZONE))
            runs["file"].append(axfr(file_port, ZONE))
    finally:
        proc.terminate()
        proc.wait()
    out = {"vms": len(fleet)}
    for name, rows in runs.items():
        out[name] = {"ms_median": statistics.median(r[0] for r in rows),
                     "ms_all": [r[0] for r in rows], "records": rows[-1][1],
                     "messages": rows[-1][2], "bytes": rows[-1][3]}
    return out


class NotifyCounter(threading.Thread):
    """A secondary's port that counts NOTIFYs per zone and answers each."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.counts, self.stopped = {}, False

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stopped:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            if len(data) < 12 or (data[2] >> 3) & 0xF != 4:  # opcode NOTIFY
                continue
            labels, pos = [], 12
            while data[pos]:
                labels.append(data[pos + 1:pos + 1 + data[pos]].decode())
                pos += 1 + data[pos]
            zone = ".".join(labels).lower()  # no trailing dot
            self.counts[zone] = self.counts.get(zone, 0) + 1
            reply = bytearray(data[:pos + 5])
            reply[2] |= 0x84  # QR, AA
            reply[6:12] = b"\0" * 6
            self.sock.sendto(bytes(reply[:12]) + data[12:pos + 5], peer)

    def stop(self):
        self.stopped = True
        self.join()
        self.sock.close()


def measure_notify(args, probe):
    work = os.path.join(args.work, "notify-%s" % (probe or "default"))
    os.makedirs(os.path.join(work, "fake"), exist_ok=True)
    minute = args.flap_seconds
    lines = ["start %.3f" % (time.time() + 2), "0 steady Running 10.0.0.1"]
    for s in range(minute):
        lines.append("%d flapper %s" % (s, "Running 10.0.0.9" if s % 2 == 0 else "Stopped"))
    with open(os.path.join(work, "fake", "timeline"), "w") as f:
        f.write("\n".join(lines) + "\n")
    counter = NotifyCounter()
    counter.start()
    port = db.free_port()
    corefile = """\
%(zone)s:%(port)d %(rev)s:%(port)d {
    bind 127.0.0.1
    multipass {
        binary %(cli)s
%(probe)s    }
    transfer {
        to 127.0.0.1:%(secondary)d
    }
}
""" % {"zone": ZONE, "rev": REVERSE, "port": port, "cli": args.cli, "secondary": counter.port,
       "probe": "        probe %s\n" % probe if probe else ""}
    proc = start(args.root, work, "coredns", corefile, os.path.join(work, "fake"))
    serials = {ZONE: set(), REVERSE: set()}
    try:
        wait_serial(port, ZONE)
        end = time.monotonic() + minute + 2 + 15  # the flapping, then the last NOTIFY due
        while time.monotonic() < end:
            for zone in serials:
                s = db.soa_serial(port, zone)
                if s:
                    serials[zone].add(s)
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait()
        counter.stop()
    return {"probe": probe or "5s (default)", "flaps": minute,
            "zones": {z: {"notifies": counter.counts.get(z, 0), "serials": len(serials[z])}
                      for z in serials}}


def fleet_module(args):
    sys.path.insert(0, os.path.join(args.root, "tests", "fixtures"))
    import make_fleet
    return make_fleet


def markdown(result):
    md = ["## 13. Zone transfers and NOTIFY (transfer_bench.py)", ""]
    md.append("AXFR of the plugin's zone and of the same zone from CoreDNS's `file` plugin, "
              "alternated in one CoreDNS (from the question to the last message, over TCP, median of %d):" % result["repeats"])
    md.append("")
    md.append("| VMs | multipass ms | file ms | ratio | records | messages | bytes |")
    md.append("|---|---|---|---|---|---|---|")
    for row in result["axfr"]:
        mp, fl = row["multipass"], row["file"]
        ratio = mp["ms_median"] / fl["ms_median"] if fl["ms_median"] else float("nan")
        md.append("| %d | %.2f | %.2f | %.2f | %d | %d | %d |" % (
            row["vms"], mp["ms_median"], fl["ms_median"], ratio, mp["records"],
            mp["messages"], mp["bytes"]))
    md.append("")
    md.append("A VM that flaps (Running, Stopped) every second for %d s: NOTIFYs received per "
              "zone, against the zone's serials seen by asking its SOA every 100 ms:" %
              result["notify"][0]["flaps"])
    md.append("")
    md.append("| probe | zone | NOTIFYs | serials seen |")
    md.append("|---|---|---|---|")
    for row in result["notify"]:
        for zone, z in row["zones"].items():
            md.append("| %s | %s | %d | %d |" % (row["probe"], zone, z["notifies"], z["serials"]))
    md.append("")
    return "\n".join(md)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--md")
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--flap-seconds", type=int, default=60)
    ap.add_argument("--probes", default=",1s", help="probe values; empty: the default")
    args = ap.parse_args()
    args.cli = os.path.join(args.root, "tests", "fake-multipass", "multipass")
    make_fleet = fleet_module(args)
    result = {"repeats": args.repeats, "axfr": [], "notify": []}
    for n in (int(s) for s in args.sizes.split(",")):
        print("== AXFR of %d VMs" % n, flush=True)
        result["axfr"].append(measure_axfr(args, make_fleet.fleet(n)))
    for probe in args.probes.split(","):
        print("== NOTIFY, a VM flapping every second, probe %s" % (probe or "default"), flush=True)
        result["notify"].append(measure_notify(args, probe))
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    text = markdown(result)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
