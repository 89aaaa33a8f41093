/*
 * execve_enriched: one event per execve()/execveat(), sent when the call returns.
 *
 * Port of the "execve() tracing (Enriched Version)" experiment: the original sent
 * {pid, uid, comm, a constant message} through BPF_PERF_OUTPUT at sys_enter. Here
 * sys_enter builds the event (who, what file, which argv) and parks it per thread;
 * sys_exit adds the return value and sends it. The parent pid is current->real_parent->tgid,
 * read at offsets user space takes from the running kernel's BTF (config[0]); on a kernel
 * without BTF it comes from the sched:sched_process_fork tracepoint instead (the map
 * "parents", with sched_process_exit removing entries).
 *
 * Filters (uid, pid, ppid, result, cgroup) are not cflags: user space sets config[0]
 * (struct execve_config) after the load, so they never change the compiled program.
 * Knob (cflags): -DWITH_KPROBES (compile the kprobe variants, for --probe kprobe; left out otherwise,
 * which keeps the compile short). The transport is tracekit/emit.bpf.h's.
 */
#ifdef WITH_KPROBES
#include <uapi/linux/ptrace.h>
#endif

#include <tracekit/emit.bpf.h>

#include "execve_enriched.h"

/*
 * bpf_probe_read_user{,_str} under other names: bcc 0.26 rewrites every call it sees
 * by those names (checking whether the kernel has them), which measured here adds
 * about 0.15 s to each start. The helpers themselves are the same (kernel 5.5+).
 */
static long (*read_user)(void *dst, u32 size, const void *src) = (void *)BPF_FUNC_probe_read_user;
static long (*read_user_str)(void *dst, u32 size, const void *src) =
	(void *)BPF_FUNC_probe_read_user_str;
/* The same for bpf_probe_read_kernel: the parent through task_struct offsets from BTF. */
static long (*read_kernel)(void *dst, u32 size, const void *src) = (void *)BPF_FUNC_probe_read_kernel;

#ifndef AT_FDCWD
#define AT_FDCWD -100
#endif

/* pid -> pid of the process that forked it; removed when the task exits. */
BPF_TABLE("lru_hash", u32, u32, parents, EXECVE_MAX_TASKS);
/*
 * The event being built, from sys_enter to sys_exit: in slot tid % EXECVE_SLOTS of an
 * array, written in place (an array lookup is a few instructions, and nothing is
 * copied); the slot's tid says whose it is, 0 when free. A thread whose slot another
 * thread holds uses the LRU hash `pending` (tid -> event) instead. The array's last
 * NR_CPUS_POSSIBLE entries are per-CPU scratch space for those events, so that every
 * event the programs touch is a value of this one map (the verifier then checks the
 * code that fills it once, not once per map).
 */
#define EXECVE_SCRATCH (EXECVE_SLOTS + bpf_get_smp_processor_id())
BPF_ARRAY(slots, struct execve_event, EXECVE_SLOTS + NR_CPUS_POSSIBLE);
BPF_TABLE("lru_hash", u32, struct execve_event, pending, EXECVE_MAX_PENDING);
/* The filters (set by user space; see execve_enriched.h). */
BPF_ARRAY(config, struct execve_config, 1);
/* --cgroup: the cgroup2 directory whose subtree is traced (set by user space). */
BPF_CGROUP_ARRAY(cgroup_filter, 1);

TRACEPOINT_PROBE(sched, sched_process_fork)
{
	u32 child = args->child_pid;
	/* The tracepoint runs in the parent: its tgid, not parent_pid (a thread id). */
	u32 parent = bpf_get_current_pid_tgid() >> 32;

	parents.update(&child, &parent);
	return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();

	parents.delete(&tid);
	return 0;
}

/*
 * Copies the path and argv from the caller's memory. A page that was never touched in
 * this process (say, string literals of a freshly forked child) cannot be faulted in
 * here: the strings are marked EXECVE_F_FILENAME_FAULT / EXECVE_F_ARG_FAULT, and read
 * again at sys_exit when the call failed (the kernel has paged them in by then). When
 * it succeeds, sched_process_exec supplies the path (the kernel's copy of it).
 */
static __always_inline void read_strings(struct execve_event *e)
{
	const char *filename = (const char *)e->filename_ptr;
	const char *const *argv = (const char *const *)e->argv_ptr;
	long n;
	int i;

	e->argc = 0;
	e->args_cut = 0;
	e->flags &= ~(EXECVE_F_MORE_ARGS | EXECVE_F_FILENAME_CUT | EXECVE_F_UNREADABLE);
	n = read_user_str(e->filename, sizeof(e->filename), filename);
	if (n < 0) {
		e->filename[0] = 0;
		e->flags |= EXECVE_F_FILENAME_FAULT;
	} else if (n == sizeof(e->filename)) {
		char c = 0;

		read_user(&c, 1, filename + sizeof(e->filename) - 1);
		if (c)
			e->flags |= EXECVE_F_FILENAME_CUT;
	}

	for (i = 0; i < EXECVE_MAX_ARGS; i++) {
		const char *arg = NULL;

		if (read_user(&arg, sizeof(arg), &argv[i]) != 0) {
			e->flags |= EXECVE_F_ARG_FAULT;
			break;
		}
		if (!arg)
			break;
		n = read_user_str(e->args[i], EXECVE_ARG_SIZE, arg);
		if (n < 0) {
			e->args[i][0] = 0;
			e->flags |= EXECVE_F_ARG_FAULT;
		} else if (n == EXECVE_ARG_SIZE) {
			char c = 0;

			read_user(&c, 1, arg + EXECVE_ARG_SIZE - 1);
			if (c)
				e->args_cut |= 1u << i;
		}
		e->argc = i + 1;
	}
	if (i == EXECVE_MAX_ARGS) {
		const char *arg = NULL;

		if (read_user(&arg, sizeof(arg), &argv[EXECVE_MAX_ARGS]) == 0 && arg)
			e->flags |= EXECVE_F_MORE_ARGS;
	}
}

/*
 * Makes slot e thread tid's, atomically: two threads with the same tid % EXECVE_SLOTS
 * may enter at once on two CPUs. Fails when another thread holds it; a slot is never
 * taken from its holder (an exec may stay inside the kernel for as long as it likes,
 * say under a debugger's catch exec), and one whose holder never returned costs only
 * the threads that share it the hash. The compare-and-swap is on the 64 bits of pid and
 * tid together (bcc's LLVM target has no 32-bit atomics); the tid says who holds it.
 * -DEXECVE_HASH_ONLY (kernels before 5.12, which have no BPF_CMPXCHG): every event
 * goes through the hash.
 */
static __always_inline int claim_slot(struct execve_event *e, u32 pid, u32 tid)
{
#ifdef EXECVE_HASH_ONLY
	return 0;
#else
	u64 seen = __sync_val_compare_and_swap((u64 *)&e->pid, 0, (u64)tid << 32 | pid);

	return seen == 0 || (u32)(seen >> 32) == tid;
#endif
}

/* The slot is free again: its holder (pid, tid) is 0. */
static __always_inline void free_slot(struct execve_event *e)
{
	*(u64 *)&e->pid = 0;
}

/* Thread tid's slot, NULL when it does not hold it. */
static __always_inline struct execve_event *own_slot(u32 tid)
{
	u32 idx = tid & (EXECVE_SLOTS - 1);
	struct execve_event *e = slots.lookup(&idx);

	return e && e->tid == tid ? e : NULL;
}

static __always_inline int on_enter(u32 syscall, const char *filename,
				    const char *const *argv, int dirfd, u32 at_flags)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u64 uid_gid = bpf_get_current_uid_gid();
	u32 pid = pid_tgid >> 32;
	u32 tid = (u32)pid_tgid;
	u32 uid = (u32)uid_gid;
	u32 ppid = 0;
	u32 *parent;
	struct execve_event *e;
	int zero = 0;

	struct execve_config *cf = config.lookup(&zero);
	u32 filters;
	int have_parent = 0;

	if (!cf)
		return 0;
	filters = cf->flags;
	if ((filters & EXECVE_CF_UID) && uid != cf->uid)
		return 0;
	if ((filters & EXECVE_CF_PID) && pid != cf->pid)
		return 0;
	if ((filters & EXECVE_CF_CGROUP) && cgroup_filter.check_current_task(0) != 1)
		return 0;
	if (cf->task_real_parent_off) {
		/* current->real_parent->tgid, what /proc/PID/stat shows as the parent. */
		const char *task = (const char *)bpf_get_current_task();
		const char *up = NULL;

		if (read_kernel(&up, sizeof(up), task + cf->task_real_parent_off) == 0 && up &&
		    read_kernel(&ppid, sizeof(ppid), up + cf->task_tgid_off) == 0)
			have_parent = 1;
	} else {
		parent = parents.lookup(&pid);
		if (parent) {
			ppid = *parent;
			have_parent = 1;
		}
	}
	if ((filters & EXECVE_CF_PPID) && ppid != cf->ppid)
		return 0;

	u64 now = bpf_ktime_get_ns();
	u32 idx = tid & (EXECVE_SLOTS - 1);

	e = slots.lookup(&idx);
	if (!e)
		return 0;
	if (!claim_slot(e, pid, tid)) {
		idx = EXECVE_SCRATCH;
		e = slots.lookup(&idx);
		if (!e)
			return 0;
	}
	e->enter_ns = now;
	e->exit_ns = 0;
	e->pid = pid;
	e->tid = tid;
	e->ppid = ppid;
	e->uid = uid;
	e->gid = uid_gid >> 32;
	e->ret = 0;
	e->argc = 0;
	e->flags = have_parent ? 0 : EXECVE_F_PPID_UNKNOWN;
	e->args_cut = 0;
	e->syscall = syscall;
	e->dirfd = dirfd;
	e->at_flags = at_flags;
	e->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(&e->comm, sizeof(e->comm));

	e->filename_ptr = (u64)filename;
	e->argv_ptr = (u64)argv;
	read_strings(e);
	if (!own_slot(tid))
		pending.update(&tid, e);
	return 0;
}

/* The event parked for thread tid (NULL: none): its slot, or a copy of the hash's entry
 * in this CPU's scratch slot (changes to that go back with an update). */
static __always_inline struct execve_event *parked(u32 tid)
{
	struct execve_event *e = own_slot(tid), *h;
	u32 idx;

	if (e)
		return e;
	h = pending.lookup(&tid);
	if (!h)
		return NULL;
	idx = EXECVE_SCRATCH;
	e = slots.lookup(&idx);
	if (!e || read_kernel(e, sizeof(*e), h) != 0)
		return NULL;
	return e;
}

/* Thread tid's event is sent or dropped: free its slot or hash entry. */
static __always_inline void unpark(u32 tid)
{
	struct execve_event *e = own_slot(tid);

	if (e)
		free_slot(e);
	else
		pending.delete(&tid);
}

static __always_inline int on_exit(void *ctx, long ret)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct execve_event *e = parked(tid);
	struct execve_config *cf;
	int zero = 0;
	u32 n;

	if (!e)
		return 0;
	cf = config.lookup(&zero);
	if (!cf || ((cf->flags & EXECVE_CF_SUCCESS) && ret != 0) || ((cf->flags & EXECVE_CF_FAILED) && ret == 0))
		goto done;
	if (ret != 0 && (e->flags & EXECVE_F_UNREADABLE))
		read_strings(e);
	e->ret = ret;
	e->exit_ns = bpf_ktime_get_ns();
	n = e->argc;
	if (n > EXECVE_MAX_ARGS)
		n = EXECVE_MAX_ARGS;
	emit(ctx, e, EXECVE_EVENT_HEADER_SIZE + n * EXECVE_ARG_SIZE);
done:
	unpark(tid);
	return 0;
}

/*
 * A successful exec, between sys_enter and sys_exit, in the new image. Two things only
 * this point knows: the path as the kernel copied it (bprm->filename, a tracepoint
 * field), for a path sys_enter could not read; and old_pid, the thread that called
 * exec. A non-leader thread's exec returns in the leader's thread id, so its parked
 * event moves to that id, where sys_exit looks for it.
 */
TRACEPOINT_PROBE(sched, sched_process_exec)
{
	u32 caller = args->old_pid;
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct execve_event *e = parked(caller);
	int fixed = 0;

	if (!e)
		return 0;
	if (e->flags & EXECVE_F_FILENAME_FAULT) {
		fixed = 1;
		TP_DATA_LOC_READ_STR(e->filename, filename, sizeof(e->filename));
		e->flags &= ~EXECVE_F_FILENAME_FAULT;
		/* The upper 16 bits of a __data_loc field are its length, NUL included. */
		if ((args->data_loc_filename >> 16) > sizeof(e->filename))
			e->flags |= EXECVE_F_FILENAME_CUT;
	}
	if (caller != tid) {
		/* Rare: to the hash under the new id (sys_exit looks there when the slot is
		 * not its own), with the event's tid still the caller's. The old leader's
		 * own exec, if it was in one, ended with its thread: its slot is freed. */
		struct execve_event *old = own_slot(tid);

		if (old)
			free_slot(old);
		pending.update(&tid, e);
		unpark(caller);
	} else if (fixed && !own_slot(caller)) {
		pending.update(&caller, e); /* the path, back into the hash */
	}
	return 0;
}

/* --- syscall tracepoints (default) --- */

TRACEPOINT_PROBE(syscalls, sys_enter_execve)
{
	return on_enter(EXECVE_SYS_EXECVE, args->filename, args->argv, AT_FDCWD, 0);
}

TRACEPOINT_PROBE(syscalls, sys_exit_execve)
{
	return on_exit(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_execveat)
{
	return on_enter(EXECVE_SYS_EXECVEAT, args->filename, args->argv, args->fd, args->flags);
}

TRACEPOINT_PROBE(syscalls, sys_exit_execveat)
{
	return on_exit(args, args->ret);
}

#ifdef WITH_KPROBES
/* --- kprobes on the syscall entry points (--probe kprobe; -DWITH_KPROBES) ---
 * bcc's syscall__ prefix reads the arguments from the inner pt_regs that x86-64
 * syscall wrappers (__x64_sys_execve) receive. */

int syscall__execve(struct pt_regs *ctx, const char __user *filename,
		    const char __user *const __user *argv)
{
	return on_enter(EXECVE_SYS_EXECVE, filename, argv, AT_FDCWD, 0);
}

int syscall__execveat(struct pt_regs *ctx, int fd, const char __user *filename,
		      const char __user *const __user *argv,
		      const char __user *const __user *envp, int flags)
{
	return on_enter(EXECVE_SYS_EXECVEAT, filename, argv, fd, flags);
}

int execve_return(struct pt_regs *ctx)
{
	return on_exit(ctx, PT_REGS_RC(ctx));
}
#endif /* WITH_KPROBES */
