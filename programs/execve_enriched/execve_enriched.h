/* execve_enriched: shared between the BPF text and main.cc. */
#ifndef EXECVE_ENRICHED_H
#define EXECVE_ENRICHED_H

#ifndef __KERNEL__
#include <linux/types.h>
#endif

#define EXECVE_MAX_ARGS 20       /* argv entries captured */
#define EXECVE_ARG_SIZE 128      /* bytes per argv entry, NUL included */
#define EXECVE_FILENAME_SIZE 256 /* bytes of the path, NUL included */
#define EXECVE_COMM_SIZE 16

/* Live tasks whose parent is remembered (pid -> ppid); LRU beyond that. */
#define EXECVE_MAX_TASKS 32768
/* Threads inside execve at once (enter seen, exit not yet): EXECVE_SLOTS in an array,
 * by tid % EXECVE_SLOTS (a power of two); those whose slot is taken in a hash. */
#ifndef EXECVE_SLOTS
#define EXECVE_SLOTS 256
#endif
#define EXECVE_MAX_PENDING 1024

/* execve_event.syscall */
#define EXECVE_SYS_EXECVE 0
#define EXECVE_SYS_EXECVEAT 1

/* execve_event.flags */
#define EXECVE_F_MORE_ARGS (1u << 0)     /* argv had more than EXECVE_MAX_ARGS entries */
#define EXECVE_F_FILENAME_CUT (1u << 1)  /* filename longer than EXECVE_FILENAME_SIZE - 1 */
#define EXECVE_F_PPID_UNKNOWN (1u << 2)  /* no fork seen for this pid: ask /proc */
#define EXECVE_F_ARG_FAULT (1u << 3)     /* an argv entry could not be read: the page was
                                          * not resident at sys_enter, and the call
                                          * succeeded, so the old image is gone at sys_exit */
#define EXECVE_F_FILENAME_FAULT (1u << 4) /* the path could not be read at sys_enter, nor
                                           * taken from sched_process_exec afterwards */
#define EXECVE_F_UNREADABLE (EXECVE_F_ARG_FAULT | EXECVE_F_FILENAME_FAULT)

/* One execve()/execveat() call, sent at sys_exit. Only the first `argc` entries of
 * args[] are sent: an event is EXECVE_EVENT_HEADER_SIZE + argc * EXECVE_ARG_SIZE bytes. */
/* Filters: user space writes config[0] after the load and before the attach, so one
 * compiled program (one compile cache entry) serves every filter value. */
#define EXECVE_CF_UID (1u << 0)     /* only callers with real uid == uid */
#define EXECVE_CF_PID (1u << 1)     /* only process pid */
#define EXECVE_CF_PPID (1u << 2)    /* only children of ppid */
#define EXECVE_CF_SUCCESS (1u << 3) /* only calls that returned 0 */
#define EXECVE_CF_FAILED (1u << 4)  /* only calls that failed */
#define EXECVE_CF_CGROUP (1u << 5)  /* only callers in the subtree of cgroup_filter[0] */

struct execve_config {
	__u32 flags; /* EXECVE_CF_* */
	__u32 uid;
	__u32 pid;
	__u32 ppid;
	/* Offsets in the running kernel's task_struct of real_parent and tgid, from its BTF
	 * (user space, src/bpf/kernel_btf.h). 0: unknown, and the parent comes from the
	 * fork/exit bookkeeping in the map "parents" instead. */
	__u32 task_real_parent_off;
	__u32 task_tgid_off;
};

struct execve_event {
	__u64 enter_ns;       /* bpf_ktime_get_ns() at sys_enter (CLOCK_MONOTONIC) */
	__u64 exit_ns;        /* bpf_ktime_get_ns() at sys_exit */
	__u32 pid;            /* caller's process id (tgid) */
	__u32 tid;            /* caller's thread id */
	__u32 ppid;           /* parent process id, 0 when unknown */
	__u32 uid;            /* caller's real uid */
	__u32 gid;            /* caller's real gid */
	__s32 ret;            /* return value: 0, or -errno */
	__u32 argc;           /* entries captured in args[] */
	__u32 flags;          /* EXECVE_F_* */
	__u32 args_cut;       /* bit i: args[i] was longer than EXECVE_ARG_SIZE - 1 */
	__u32 syscall;        /* EXECVE_SYS_* */
	__s32 dirfd;          /* execveat: directory fd (AT_FDCWD for execve) */
	__u32 at_flags;       /* execveat: flags */
	__u64 filename_ptr;   /* user pointers, to read again at sys_exit (see flags) */
	__u64 argv_ptr;
	__u64 cgroup_id;      /* caller's cgroup v2 id (bpf_get_current_cgroup_id) */
	char comm[EXECVE_COMM_SIZE];         /* caller's command name (before the exec) */
	char filename[EXECVE_FILENAME_SIZE]; /* path as passed to the call */
	char args[EXECVE_MAX_ARGS][EXECVE_ARG_SIZE];
};

#define EXECVE_EVENT_HEADER_SIZE (88 + EXECVE_COMM_SIZE + EXECVE_FILENAME_SIZE)

#endif
