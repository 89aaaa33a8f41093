/*
 * tracekit/maps.bpf.h: map helpers shared by the programs.
 *
 * They take a map pointer, so they work on a map reached through an array of maps
 * (tcp_tracker's flow table) or on a bcc map passed as &name. (bcc refuses map
 * methods such as name.lookup() inside macros, and a function cannot take a bcc map
 * by name, so generic helpers go through pointers and the plain helpers.)
 */
#ifndef TRACEKIT_MAPS_BPF_H
#define TRACEKIT_MAPS_BPF_H

/*
 * The value at key, created from *init when missing. *created is set to 1 when this
 * call created the entry (0 when it existed or another CPU created it first).
 * NULL when the entry could not be created (a full non-LRU map).
 */
static __always_inline void *tk_lookup_or_try_init(void *map, const void *key, const void *init, int *created)
{
	void *v = bpf_map_lookup_elem(map, key);

	*created = 0;
	if (v)
		return v;
	if (bpf_map_update_elem(map, key, init, BPF_NOEXIST) == 0)
		*created = 1;
	return bpf_map_lookup_elem(map, key);
}

/* Adds n to a per-CPU counter slot: no other writer, no atomic needed. */
static __always_inline void tk_percpu_add(u64 *slot, u64 n)
{
	if (slot)
		*slot += n;
}

#endif
