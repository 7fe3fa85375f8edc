#!/usr/bin/env python3
"""Prints the question of every DNS packet sent to ADDRESS:PORT on the
loopback link, as "udp|tcp NAME TYPE" lines, whether or not a server listens
there: the test's proof of what reached CoreDNS's port. Runs inside the
test's network namespace (needs root: a packet socket); prints "ready" once
it listens, and runs until it is killed.

    dns_capture.py ADDRESS PORT
"""

import socket
import struct
import sys

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4  # loopback shows each packet twice: as sent and as received


def question(dns):
    """(name, type) of a DNS message's first question, or None."""
    if len(dns) < 12 or struct.unpack("!H", dns[4:6])[0] < 1:
        return None
    labels, i = [], 12
    while i < len(dns) and dns[i] != 0:
        if dns[i] & 0xC0 or i + 1 + dns[i] > len(dns):
            return None
        labels.append(dns[i + 1:i + 1 + dns[i]].decode("ascii", "replace"))
        i += 1 + dns[i]
    if i + 3 >= len(dns):
        return None
    return ".".join(labels).lower() + ".", struct.unpack("!H", dns[i + 1:i + 3])[0]


def main():
    watched, port = sys.argv[1], int(sys.argv[2])
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    sock.bind(("lo", ETH_P_IP))
    print("ready", flush=True)
    while True:
        packet, address = sock.recvfrom(65535)
        if address[2] == PACKET_OUTGOING or len(packet) < 20:
            continue
        header = (packet[0] & 0x0F) * 4
        protocol, destination = packet[9], socket.inet_ntoa(packet[16:20])
        if destination != watched or protocol not in (6, 17):
            continue
        segment = packet[header:]
        if struct.unpack("!H", segment[2:4])[0] != port:
            continue
        if protocol == 17:
            q, kind = question(segment[8:]), "udp"
        else:  # the first segment with data: a 2-octet length, then the message
            q, kind = question(segment[(segment[12] >> 4) * 4 + 2:]), "tcp"
        if q:
            print("%s %s %d" % (kind, q[0], q[1]), flush=True)


if __name__ == "__main__":
    main()
