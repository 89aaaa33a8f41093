#!/usr/bin/python3
"""Baseline: the original execve_enriched experiment (one perf-buffer event per execve,
printed as a line). Lost samples are counted and reported on stderr at the end."""
import os
import sys

from bcc import BPF

import common

bpf = BPF(src_file=common.text_path("execve_enriched.bpf.c"))  # attaches the tracepoint
common.free_compiler_memory(bpf)
output = bpf.get_table("output")
lost = 0


def print_event(cpu, data, size):
    e = output.event(data)
    print(f"PID = {e.pid}, User ID = {e.uid}, Command =  {e.command.decode()}, "
          f"Message = {e.message.decode()}")


def count_lost(n):
    global lost
    lost += n


output.open_perf_buffer(print_event, lost_cb=count_lost)
common.attached("to tracepoint syscalls:sys_enter_execve")
try:
    while True:
        bpf.perf_buffer_poll()
except KeyboardInterrupt:
    pass
sys.stdout.flush()
print(f"Lost {lost} events", file=sys.stderr, flush=True)
# bcc 0.26 raises from PerfEventArray.__del__ at interpreter exit (its map fd is
# already closed): everything is flushed and detached, so leave at once.
os._exit(0)
