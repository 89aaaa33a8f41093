#!/usr/bin/python3
"""Baseline: the original execve_dumb experiment (per-uid execve counts every 5 s)."""
import argparse
import time

from bcc import BPF

import common

p = argparse.ArgumentParser()
p.add_argument("-i", "--interval", type=float, default=5.0)
a = p.parse_args()

bpf = BPF(src_file=common.text_path("execve_dumb.bpf.c"))  # attaches the tracepoint
common.free_compiler_memory(bpf)
table = bpf.get_table("counter_table")
common.attached("to tracepoint syscalls:sys_enter_execve")
try:
    while True:
        time.sleep(a.interval)
        s = ""
        for k, v in table.items():
            s += f"User ID {k.value} has invoked {v.value} times execve syscall!\t"
        print(s, flush=True)
except KeyboardInterrupt:
    pass
