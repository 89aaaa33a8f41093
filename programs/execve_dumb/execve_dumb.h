/* execve_dumb: shared between the BPF text and main.cc. */
#ifndef EXECVE_DUMB_H
#define EXECVE_DUMB_H

/* Distinct uids tracked; more are dropped (a host rarely runs 10k users). */
#define EXECVE_DUMB_MAX_UIDS 10240

#endif
