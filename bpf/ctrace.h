/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ctrace kernel <-> user ABI. The one definition of every record, map value and
 * setting shared by bpf/ctrace.bpf.c, native/ and (mirrored) src/decode/abi.ts.
 *
 * Rules: only __u8..__u64 and fixed arrays; padding written out; every struct's
 * size pinned by _Static_assert here and checked again by test/abi.test.ts.
 * Event numbers are explicit and never reused.
 */
#ifndef CTRACE_H
#define CTRACE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define CTRACE_ABI_VERSION 3

/* ---- limits ---------------------------------------------------------- */
#define CTRACE_COMM_LEN 16
/* cgroup path components captured leaf-first from kernfs; enough for
 * kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid>.slice/cri-containerd-<id>.scope
 * plus two levels of nesting above it; 160 bytes hold containerd's colon form
 * kubepods-besteffort-pod<uid>.slice:cri-containerd:<64 hex>. */
#define CTRACE_CG_LEVELS 6
#define CTRACE_CG_NAME_LEN 160
#define CTRACE_CG_AREA (CTRACE_CG_LEVELS * CTRACE_CG_NAME_LEN)
/* PATH_MAX: an exec's filename is never cut by execve(2) itself; only a longer
 * execveat() name ("/dev/fd/N/<path>") can be, and then carries CTRACE_F_FILENAME_TRUNC.
 * The record is variable-size: only the filename's bytes are sent. */
#define CTRACE_FILENAME_LEN 4096
/* argv is one block of NUL-separated strings read from the new mm, bounded by a total
 * (cfg_argv_max, default CTRACE_ARGV_DEFAULT) that can be raised to CTRACE_ARGV_LEN. Only
 * the filled bytes are sent, so a short command line costs what it did. */
#define CTRACE_ARGV_LEN 32768
#define CTRACE_ARGV_DEFAULT 4096
#define CTRACE_PATH_LEN 256
/* an exec records this many ancestors at most (cfg_ancestors, default 8); they lead its data,
 * in an area of CTRACE_ANC_AREA bytes of which only the filled ones are sent */
#define CTRACE_MAX_ANCESTORS 16
#define CTRACE_ANC_AREA 1024
#define CTRACE_TTY_LEN 32
#define CTRACE_FSTYPE_LEN 32

/* ---- event numbers (never reuse) ------------------------------------- */
enum ctrace_event_type {
	CTRACE_EV_EXEC = 1,
	CTRACE_EV_EXIT = 2,
	CTRACE_EV_MOUNT = 3,
	/* not an event: a cgroup was removed (every one, classified or not); userland forgets it */
	CTRACE_EV_CGROUP_GONE = 4,
};

/* ctrace_hdr.flags */
enum ctrace_hdr_flags {
	CTRACE_F_ARGV_TRUNC = 1 << 0,	 /* argv block or count was cut */
	CTRACE_F_CG_TRUNC = 1 << 1,	 /* cgroup has more ancestors than captured */
	CTRACE_F_CG_V1 = 1 << 2,	 /* cgroup key/path are from a v1 hierarchy */
	CTRACE_F_FILENAME_TRUNC = 1 << 3,
	CTRACE_F_HOST_PIDNS = 1 << 4,	 /* task is in the host PID namespace */
	/* outside the host PID namespace with a root (fs->root) that is not the host's:
	 * isolated like a container, whatever its cgroup says; never screened out */
	CTRACE_F_ISOLATED = 1 << 5,
	/* the cgroup's kernfs names are left out (cg_depth 0): the kernel decided by a verdict
	 * userland wrote for this cgroup key, so userland read them before and keeps them */
	CTRACE_F_CG_KNOWN = 1 << 6,
};

/* ctrace_mount.mflags: how far the recorded strings can be believed. */
enum ctrace_mount_flags {
	/* the user-memory arguments read at syscall entry and at exit differ */
	CTRACE_MF_ARGS_CHANGED = 1 << 0,
	/* the strings are the caller's claim (failed call, or no kernel view found) */
	CTRACE_MF_ARGS_UNVERIFIED = 1 << 1,
	CTRACE_MF_SOURCE_TRUNC = 1 << 2,
	CTRACE_MF_TARGET_TRUNC = 1 << 3,
	CTRACE_MF_FSTYPE_TRUNC = 1 << 4,
	/* source, target and fstype are the kernel's own (the new mount's devname,
	 * super block type and mount point), not user memory */
	CTRACE_MF_KERNEL_VIEW = 1 << 5,
};

/* ctrace_exec.xflags: the binary and the rest of the exec. */
enum ctrace_exec_flags {
	CTRACE_XF_OVERLAY = 1 << 0,	  /* the binary is on an overlayfs */
	CTRACE_XF_UPPER = 1 << 1,	  /* ... and lives in (or was copied up to) its upper dir */
	CTRACE_XF_MEMFD = 1 << 2,	  /* the binary is a memfd: a fileless exec */
	CTRACE_XF_DELETED = 1 << 3,	  /* the binary has no link left (unlinked, or a memfd) */
	CTRACE_XF_CWD_TRUNC = 1 << 4,	  /* cwd is cut (deeper or longer than captured) */
	CTRACE_XF_ANC_MORE = 1 << 5,	  /* the chain goes on past the ancestors captured */
	CTRACE_XF_NO_CWD = 1 << 6,	  /* cwd could not be read (kernel without bpf_loop) */
	CTRACE_XF_NO_AUDIT = 1 << 7,	  /* the kernel has no audit ids (loginuid, sessionid) */
};

/* Verdicts written by userland, read by the hooks. */
enum ctrace_verdict {
	CTRACE_VERDICT_UNKNOWN = 0,
	CTRACE_VERDICT_HOST = 1,	 /* drop in kernel */
	CTRACE_VERDICT_CONTAINER = 2,	 /* emit */
	CTRACE_VERDICT_UNCLASSIFIED = 3, /* emit; userland could not prove host or container */
};

/* Which mount-family syscall a mount record reports. */
enum ctrace_mount_op {
	CTRACE_MOUNT_OP_MOUNT = 1,	/* mount(2) */
	CTRACE_MOUNT_OP_MOVE_MOUNT = 2, /* move_mount(2), the new mount API's attach step */
};

/* Set on a cgroup key that names a v1 hierarchy's kernfs node, so it never
 * collides with a v2 cgroup id (each kernfs root numbers its own nodes). */
#define CTRACE_CGKEY_V1 (1ULL << 63)

/* ---- records ---------------------------------------------------------- */
struct ctrace_hdr {
	__u16 type;	/* enum ctrace_event_type */
	__u16 flags;	/* enum ctrace_hdr_flags */
	__u32 size;	/* bytes of the whole record, header included */
	__u64 ktime_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
};

/* Who did it: everything userland needs to attribute the event without /proc. */
struct ctrace_task {
	__u32 pid;	 /* thread id (host) */
	__u32 tgid;	 /* process id (host) */
	__u32 ppid;	 /* real parent's tgid (host) */
	__u32 nspid;	 /* tgid as seen in the task's own PID namespace */
	__u32 uid;
	__u32 gid;
	__u32 pidns_ino;
	__u32 mntns_ino;
	__u64 cgroup_key; /* v2 cgroup id, or v1 kernfs id | CTRACE_CGKEY_V1 */
	/* the process's and its real parent's start (start_boottime, ns since boot, the clock
	 * of /proc/PID/stat): with the pid and the boot id, an identity PID reuse cannot fake */
	__u64 start_ns;
	__u64 parent_start_ns;
	__u8 verdict;	  /* what the kernel knew when it emitted (enum ctrace_verdict) */
	/* how many cgroup names the record carries, leaf first (0: the root, or CTRACE_F_CG_KNOWN).
	 * They follow the record's fixed part (an exec's: its ancestors), so that a record without
	 * them is that much shorter: a hook's cost grows with the ring bytes it fills. */
	__u8 cg_depth;
	__u8 _pad[6];
	char comm[CTRACE_COMM_LEN];
};

/* One ancestor of an exec, nearest first, as the kernel's real_parent chain has it at the exec
 * (after a parent exits, the child's parent is the reaper that adopted it). */
struct ctrace_ancestor {
	__u64 start_ns;	  /* start_boottime, as ctrace_task.start_ns */
	__u64 cgroup_key; /* as ctrace_task.cgroup_key */
	__u32 tgid;
	__u32 nspid;	  /* its tgid in its own PID namespace */
	__u32 pidns_ino;
	__u32 _pad;
	char comm[CTRACE_COMM_LEN];
};

struct ctrace_exec {
	struct ctrace_hdr hdr;
	struct ctrace_task task;
	/* the binary (bprm->file): its inode, for the hash cache and the flags */
	__u64 exe_ino;
	__u64 exe_size;
	__u64 exe_ctime_ns;
	__u32 exe_dev;	  /* sb->s_dev, the kernel's encoding (MAJOR << 20 | MINOR) */
	__u32 xflags;	  /* enum ctrace_exec_flags */
	__u64 cap_effective;
	__u32 loginuid;	  /* audit login uid, (u32)-1 unset */
	__u32 sessionid;  /* audit session id, (u32)-1 unset */
	__u32 userns_ino;
	__u32 userns_level; /* 0: the initial user namespace */
	__u8 n_ancestors; /* struct ctrace_ancestor at data[0], n_ancestors of them */
	__u8 _pad2[3];
	/* the task's exec count after this exec (self_exec_id): with the process's identity, the
	 * same exec's id for every observer */
	__u32 exec_seq;
	char tty[CTRACE_TTY_LEN];
	__u32 argc;	 /* the real argument count (bprm->argc) */
	__u32 argv_len;	 /* bytes of argv that are filled */
	__u32 filename_len; /* bytes of the filename, its NUL not counted */
	__u32 cwd_len;	 /* bytes of the working directory (CTRACE_PATH_LEN at most), its NUL not counted */
	/* n_ancestors struct ctrace_ancestor, then task.cg_depth cgroup names of
	 * CTRACE_CG_NAME_LEN bytes, then the filename (filename_len bytes and a NUL), the working
	 * directory (cwd_len bytes and a NUL), then argv_len bytes of argv: only what is filled is
	 * sent (a hook's cost grows with the ring bytes it fills) */
	char data[CTRACE_ANC_AREA + CTRACE_CG_AREA + CTRACE_FILENAME_LEN + CTRACE_PATH_LEN + CTRACE_ARGV_LEN];
};

struct ctrace_exit {
	struct ctrace_hdr hdr;
	struct ctrace_task task;
	__u32 exit_code; /* raw wait status: code << 8 | signal (| 0x80 core) */
	__u32 _pad;
	__u64 start_ns;	 /* process start, CLOCK_MONOTONIC */
	/* sent only with task.cg_depth > 0 (else the record ends here) */
	char cgroup_names[CTRACE_CG_LEVELS][CTRACE_CG_NAME_LEN];
};

struct ctrace_mount {
	struct ctrace_hdr hdr;
	struct ctrace_task task;
	__s64 ret;	/* syscall return value */
	__u64 flags;	/* mount(2) flags, or move_mount(2) flags */
	__u32 op;	/* enum ctrace_mount_op */
	__u32 mflags;	/* enum ctrace_mount_flags */
	char source[CTRACE_PATH_LEN];
	char target[CTRACE_PATH_LEN];
	char fstype[CTRACE_FSTYPE_LEN];
	/* sent only with task.cg_depth > 0 (else the record ends here) */
	char cgroup_names[CTRACE_CG_LEVELS][CTRACE_CG_NAME_LEN];
};

/* ---- maps ------------------------------------------------------------- */
/* pid_verdicts: LRU hash, key __u32 tgid. A verdict whose cgroup_key differs
 * from the task's current key is stale and counts as unknown. */
/* CTRACE_EV_CGROUP_GONE: the removed cgroup's key. Best effort: a full ring drops it silently
 * (it is no event; userland's caches are bounded anyway). */
struct ctrace_cgroup_gone {
	struct ctrace_hdr hdr;
	__u64 cgroup_key;
};

struct ctrace_pid_verdict {
	__u64 cgroup_key;
	__u8 verdict;
	__u8 _pad[7];
};

/* cgroup_verdicts: LRU hash, key __u64 cgroup key, value __u8 verdict
 * (kept in a __u32 for alignment). */
struct ctrace_cgroup_verdict {
	__u32 verdict;
};

/* stats: per-CPU array of __u64, one slot per counter. */
enum ctrace_stat {
	CTRACE_STAT_EMITTED = 0,	   /* records written to the ring */
	CTRACE_STAT_LOST = 1,		   /* ring buffer full: record dropped */
	CTRACE_STAT_MAP_ERR = 2,	   /* a map update/delete failed */
	CTRACE_STAT_DROPPED_HOST = 3,	   /* screened out in kernel */
	/* 4: retired (mount sys_exit without its sys_enter; the hooks are exit-only now) */
	CTRACE_STAT_READ_ERR = 5,	   /* a probe read failed; field left empty */
	CTRACE_STAT_MAX = 8,
};

#ifdef __cplusplus
#define CTRACE_SIZE_ASSERT(t, n) static_assert(sizeof(t) == (n), #t " size changed: update src/decode/abi.ts")
#else
#define CTRACE_SIZE_ASSERT(t, n) _Static_assert(sizeof(t) == (n), #t " size changed: update src/decode/abi.ts")
#endif
CTRACE_SIZE_ASSERT(struct ctrace_hdr, 16);
CTRACE_SIZE_ASSERT(struct ctrace_task, 64 + CTRACE_COMM_LEN);
CTRACE_SIZE_ASSERT(struct ctrace_ancestor, 48);
CTRACE_SIZE_ASSERT(struct ctrace_exec, 16 + 80 + 64 + CTRACE_TTY_LEN + 16 + CTRACE_ANC_AREA + CTRACE_CG_AREA +
					       CTRACE_FILENAME_LEN + CTRACE_PATH_LEN + CTRACE_ARGV_LEN);
CTRACE_SIZE_ASSERT(struct ctrace_exit, 16 + 80 + 16 + CTRACE_CG_AREA);
CTRACE_SIZE_ASSERT(struct ctrace_mount, 16 + 80 + 24 + 2 * CTRACE_PATH_LEN + CTRACE_FSTYPE_LEN + CTRACE_CG_AREA);
CTRACE_SIZE_ASSERT(struct ctrace_pid_verdict, 16);
CTRACE_SIZE_ASSERT(struct ctrace_cgroup_gone, 24);

#endif /* CTRACE_H */
