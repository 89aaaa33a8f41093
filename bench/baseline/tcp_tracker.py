#!/usr/bin/python3
"""Baseline: the original tcp_tracker experiment (per-session bytes and packets on an
interface, printed every 2 s)."""
import argparse
import time
from ipaddress import ip_address

from bcc import BPF

import common

p = argparse.ArgumentParser()
p.add_argument("iface")
p.add_argument("-i", "--interval", type=float, default=2.0)
a = p.parse_args()


def fmt_ip_port(ip, port):
    return "{:>15}:{:<5}".format(str(ip_address(ip)), port)


def fmt_stats(nbytes, packets):
    units = [" B", "KB", "MB", "GB", "TB"]
    i = 0
    while nbytes >= 1024 and i < len(units) - 1:
        nbytes /= 1024.0
        i += 1
    return "{:>10} {:>10} packets".format("{:.2f} {}".format(nbytes, units[i]), packets)


bpf = BPF(src_file=common.text_path("tcp_tracker.bpf.c"))
fn = bpf.load_func("trace_tcp_connections", BPF.SCHED_CLS)
common.free_compiler_memory(bpf)
table = bpf.get_table("session_data")
tc = common.TcAttach(a.iface, fn)
common.attached(f"to {a.iface} ingress+egress (clsact)")
try:
    while True:
        print("Trace at: " + time.strftime("%H:%M:%S"))
        for k, v in table.items():
            print(f"#       Session: {fmt_ip_port(k.src_ip, k.src_port)} -> "
                  f"{fmt_ip_port(k.dst_ip, k.dst_port)} | {fmt_stats(v.bts, v.pkt)}")
        print(end="", flush=True)
        time.sleep(a.interval)
except KeyboardInterrupt:
    pass
finally:
    tc.close()
