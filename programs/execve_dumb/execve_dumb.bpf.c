/*
 * execve_dumb: count execve() calls per user ID.
 *
 * Port of the "execve() tracing (Dumb Version)" experiment. The map is keyed by the
 * full 32-bit uid (the original masked it with 0xFFFFFFF) and counts in 64 bits,
 * incremented atomically (several CPUs exec at once).
 */
#include "execve_dumb.h"

#ifdef BY_CGROUP
/* --by cgroup / unit: the caller's cgroup v2 id (user space names it). */
BPF_HASH(counts, u64, u64, EXECVE_DUMB_MAX_UIDS);

/* Attached to syscalls:sys_enter_execve, or to the execve kprobe: same body. */
int count_execve(void *ctx)
{
	u64 id = bpf_get_current_cgroup_id();

	counts.atomic_increment(id);
	return 0;
}
#else
BPF_HASH(counts, u32, u64, EXECVE_DUMB_MAX_UIDS);

/* Attached to syscalls:sys_enter_execve, or to the execve kprobe: same body. */
int count_execve(void *ctx)
{
	u32 uid = bpf_get_current_uid_gid();  /* low 32 bits: the real uid */

	counts.atomic_increment(uid);
	return 0;
}
#endif
