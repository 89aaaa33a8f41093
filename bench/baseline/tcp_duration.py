#!/usr/bin/python3
"""Baseline: the original tcp_duration experiment (SYN-to-FIN duration of each TCP
connection on an interface, one line per closed connection). The original wrote the
lines to statistics.dat and plotted a histogram at the end; this one prints them."""
import argparse
import os
import sys
from ipaddress import ip_address

from bcc import BPF

import common

p = argparse.ArgumentParser()
p.add_argument("iface")
a = p.parse_args()

bpf = BPF(src_file=common.text_path("tcp_duration.bpf.c"))
fn = bpf.load_func("trace_tcp_duration", BPF.SCHED_CLS)
common.free_compiler_memory(bpf)
output = bpf.get_table("output")
lost = 0


def print_event(cpu, data, size):
    e = output.event(data)
    print("{:>15}:{:<5} -> {:>15}:{:<5} | Duration: {}".format(
        str(ip_address(e.src_ip)), e.src_port, str(ip_address(e.dst_ip)), e.dst_port,
        e.duration_ns))


def count_lost(n):
    global lost
    lost += n


output.open_perf_buffer(print_event, lost_cb=count_lost)
tc = common.TcAttach(a.iface, fn)
common.attached(f"to {a.iface} ingress+egress (clsact)")
try:
    while True:
        bpf.perf_buffer_poll()
except KeyboardInterrupt:
    pass
finally:
    tc.close()
sys.stdout.flush()
print(f"Lost {lost} events", file=sys.stderr, flush=True)
# bcc 0.26 raises from PerfEventArray.__del__ at interpreter exit (its map fd is
# already closed): everything is flushed and detached, so leave at once.
os._exit(0)
