"""Shared bits of the Python-bcc baselines that bench/run.sh compares tracekit with.

Each baseline mirrors one original experiment (see the .bpf.c beside it) and prints a
line starting with "Attached" on stderr once its program is attached, like tracekit's
tools, so one start-up timer serves both. Ctrl-C (SIGINT) ends it normally.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def text_path(name):
    return os.path.join(HERE, name)


def attached(what):
    print("Attached " + what, file=sys.stderr, flush=True)


def free_compiler_memory(bpf):
    """What tracekit does after loading: drop LLVM's memory (bcc_free_memory)."""
    bpf.free_bcc_memory()


class TcAttach:
    """clsact + a direct-action bpf filter on ingress and egress, as the originals did
    with pyroute2; the qdisc is deleted on close()."""

    def __init__(self, ifname, fn):
        from pyroute2 import IPRoute
        self.ipr = IPRoute()
        self.index = self.ipr.link_lookup(ifname=ifname)[0]
        self.ipr.tc("add", "clsact", self.index)
        for parent in ("ffff:fff2", "ffff:fff3"):  # ingress, egress
            self.ipr.tc("add-filter", "bpf", self.index, ":1", fd=fn.fd, name=fn.name,
                        parent=parent, classid=1, direct_action=True)

    def close(self):
        try:
            self.ipr.tc("del", "clsact", self.index)
        finally:
            self.ipr.close()
