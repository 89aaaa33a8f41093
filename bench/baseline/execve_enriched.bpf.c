/*
 * Baseline for bench/run.sh: the "execve() tracing (Enriched Version)" experiment as
 * its README describes it: one perf-buffer record per execve with pid, uid, the
 * caller's comm and a fixed 100-byte message copied with bpf_probe_read_kernel.
 * Attached to syscalls:sys_enter_execve (no kprobes on this kernel).
 */
BPF_PERF_OUTPUT(output);

struct data_t {
	int pid;
	int uid;
	char command[16];
	char message[100];
};

TRACEPOINT_PROBE(syscalls, sys_enter_execve)
{
	unsigned int USER_ID_MASK = 0xFFFFFFF;
	struct data_t data = {};
	char message[100] = "This a message";

	data.pid = bpf_get_current_pid_tgid() >> 32;
	data.uid = bpf_get_current_uid_gid() & USER_ID_MASK;
	bpf_get_current_comm(&data.command, sizeof(data.command));
	bpf_probe_read_kernel(&data.message, sizeof(data.message), message);
	output.perf_submit(args, &data, sizeof(data));
	return 0;
}
