#!/usr/bin/python3
"""Flow-table read benchmark, Python side: fills the original tcp_tracker's
session_data map (its size raised to hold the flows) with N flows, then times one
full read with table.items(), the call the original used every 2 s, and, for
reference, with bcc's batched items_lookup_batch(). Prints key=value lines."""
import argparse
import ctypes as ct
import statistics
import time

from bcc import BPF

import common

p = argparse.ArgumentParser()
p.add_argument("--flows", type=int, default=100000)
p.add_argument("--runs", type=int, default=5)
a = p.parse_args()

size = 1
while size < a.flows * 2:
    size *= 2
bpf = BPF(src_file=common.text_path("tcp_tracker.bpf.c"), cflags=[f"-DSESSION_TABLE_SIZE={size}"])
bpf.load_func("trace_tcp_connections", BPF.SCHED_CLS)
common.free_compiler_memory(bpf)
table = bpf.get_table("session_data")

# Fill: distinct 4-tuples, in batches the kernel accepts.
Key, Leaf = table.Key, table.Leaf
chunk = 10000
for start in range(0, a.flows, chunk):
    n = min(chunk, a.flows - start)
    keys = (Key * n)()
    values = (Leaf * n)()
    for i in range(n):
        f = start + i
        keys[i].valid = 1
        keys[i].src_ip = 0xC6120001 + (f >> 16)   # 198.18.x.x
        keys[i].src_port = 1024 + (f & 0xFFFF) % 60000
        keys[i].dst_ip = 0xC6130002
        keys[i].dst_port = 443 + (f & 0xFFFF) // 60000
        values[i].bts = 1000 + f
        values[i].pkt = 1 + f % 7
    table.items_update_batch(keys, values)


def timed(fn):
    ms = []
    n = 0
    for _ in range(a.runs):
        t0 = time.perf_counter()
        n = len(list(fn()))
        ms.append((time.perf_counter() - t0) * 1000)
    return n, ms


n, ms = timed(table.items)
print(f"items_flows={n}")
print(f"items_ms={statistics.median(ms):.1f}")
print("items_runs_ms=" + ",".join(f"{x:.1f}" for x in ms))
n, ms = timed(table.items_lookup_batch)
print(f"batch_flows={n}")
print(f"batch_ms={statistics.median(ms):.1f}")
print("batch_runs_ms=" + ",".join(f"{x:.1f}" for x in ms))
