// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ctrace: exec, exit and mount events of containerised tasks.
 *
 * Every hook first asks "could this task be in a container?" (screen_task),
 * cheapest answer first: the PID verdict map, the cgroup verdict map, the PID
 * namespace. Only then does it build a record, capturing in kernel everything
 * userland needs to attribute the event without /proc (which may already be
 * gone: a process can exec and exit before userland reads anything).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "ctrace.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ---- settings (rodata, set by the addon before load) ------------------ */
const volatile __u32 cfg_host_pidns_ino = 0;
const volatile __u8 cfg_pidns_only = 0;
const volatile __u8 cfg_emit_host = 0;
const volatile __u32 cfg_event_mask = ~0U;
/* 0: wake the consumer for every record. Otherwise force a wakeup when this many
 * bytes are queued (wakeup_flag()). */
const volatile __u64 cfg_wakeup_bytes = 0;
const volatile __s32 cfg_v1_subsys_id = -1;

/* ---- written by the poll thread (mmapped .bss) -------------------------- */
/* 1 while the reader sleeps until woken (it found the ring empty for a while). */
__u32 reader_idle = 0;

/* ---- maps -------------------------------------------------------------- */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by the addon before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct ctrace_pid_verdict);
} pid_verdicts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct ctrace_cgroup_verdict);
} cgroup_verdicts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CTRACE_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* New mount API: fsopen() names the fstype and fsconfig("source") the source
 * long before move_mount() attaches the mount; remember them per process. */
struct fs_ctx {
	char fstype[CTRACE_FSTYPE_LEN];
	char source[CTRACE_PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct fs_ctx);
} fs_ctxs SEC(".maps");

/* Variable-size records are built here (an exec record is far larger than the BPF
 * stack) and copied out; fixed-size ones are built in place in the ring. */
union record {
	struct ctrace_hdr hdr;
	struct ctrace_exec exec;
	struct fs_ctx fs;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, union record);
} scratch SEC(".maps");

/* kernfs_node::parent became __parent in 6.15; accept both. */
struct kernfs_node___new {
	struct kernfs_node *__parent;
} __attribute__((preserve_access_index));
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

/* cgroup_subsys_id values this program can name (the kernel has ~14) */
#define CTRACE_MAX_SUBSYS 20

/* ---- small helpers ------------------------------------------------------ */
static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(struct kernfs_node___new, __parent))
		return ((struct kernfs_node___new *)kn)->__parent;
	return ((struct kernfs_node___old *)kn)->parent;
}

/* The cgroup that identifies the task: its v2 cgroup unless that is the root
 * (a v1-only or hybrid host), then the configured v1 hierarchy's cgroup.
 * Plain loads through the task's BTF pointer: the JIT makes each a single guarded
 * load, where a bpf_probe_read_kernel() per link cost ~40 ns (the hooks' main cost). */
static __always_inline struct kernfs_node *task_cgroup_kn(struct task_struct *task, __u16 *flags)
{
	struct css_set *cset = task->cgroups;
	struct cgroup *dfl = cset->dfl_cgrp;
	struct cgroup_subsys_state *css = NULL;
	const __s32 id = cfg_v1_subsys_id;
	const __s32 nsubsys = bpf_core_field_size(cset->subsys) / sizeof(void *);

	if (dfl->level > 0 || id < 0)
		return dfl->kn;
	/* subsys[id] with constant indexes (the verifier refuses a variable index
	 * into a BTF array); the ones past this kernel's array are dead code */
#pragma unroll
	for (__s32 i = 0; i < CTRACE_MAX_SUBSYS; i++) {
		if (i < nsubsys && i == id) {
			css = cset->subsys[i];
			break;
		}
	}
	if (!css)
		return dfl->kn;
	*flags |= CTRACE_F_CG_V1;
	return css->cgroup->kn;
}

/* What the screen needs, computed once per hook. */
struct task_key {
	struct task_struct *task;
	struct kernfs_node *cg_kn;
	__u64 cgroup_key;
	__u32 tgid;
	__u32 nspid;
	__u32 pidns_ino;
	__u16 flags;
	__u8 verdict;
	__u8 pid_entry; /* the PID verdict map: 0 not looked up, PID_ENTRY_ABSENT, PID_ENTRY_FOUND */
};

#define PID_ENTRY_ABSENT 1
#define PID_ENTRY_FOUND 2

static __always_inline void task_key_init(struct task_key *k)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pid *tp = task->group_leader->thread_pid;
	unsigned int level = tp->level;
	struct kernfs_node *kn;
	struct upid up = {};

	k->task = task;
	k->tgid = bpf_get_current_pid_tgid() >> 32;
	k->flags = 0;
	k->verdict = CTRACE_VERDICT_UNKNOWN;
	k->pid_entry = 0;
	kn = task_cgroup_kn(task, &k->flags);
	k->cg_kn = kn;
	k->cgroup_key = kn->id;
	if (k->flags & CTRACE_F_CG_V1)
		k->cgroup_key |= CTRACE_CGKEY_V1;
	/* numbers[] is a flexible array: the task's own level needs a probe read */
	bpf_core_read(&up, sizeof(up), &tp->numbers[level & 31]);
	k->nspid = up.nr;
	k->pidns_ino = BPF_CORE_READ(up.ns, ns.inum);
	if (k->pidns_ino == cfg_host_pidns_ino)
		k->flags |= CTRACE_F_HOST_PIDNS;
}

/* The in-kernel decision (DESIGN.md): true when the event should reach userland. */
static __always_inline bool screen_task(struct task_key *k)
{
	struct ctrace_pid_verdict *pv;
	struct ctrace_cgroup_verdict *cv;
	bool host_ns = k->flags & CTRACE_F_HOST_PIDNS;

	if (cfg_pidns_only && host_ns && !cfg_emit_host)
		goto drop;

	/* 1. this PID's verdict, unless it was given for another cgroup (stale:
	 *    runc forks on the host and moves the child before exec) */
	pv = bpf_map_lookup_elem(&pid_verdicts, &k->tgid);
	k->pid_entry = pv ? PID_ENTRY_FOUND : PID_ENTRY_ABSENT;
	if (pv && pv->cgroup_key == k->cgroup_key) {
		k->verdict = pv->verdict;
	} else {
		/* 2. a new process in an already classified cgroup */
		cv = bpf_map_lookup_elem(&cgroup_verdicts, &k->cgroup_key);
		if (cv)
			k->verdict = cv->verdict;
	}
	if (k->verdict == CTRACE_VERDICT_HOST && !cfg_emit_host)
		goto drop;
	/* 3./4. container, unclassified, or unknown: a task outside the host PID
	 *    namespace is a candidate; one inside it is emitted while its cgroup
	 *    is unknown so --pid=host containers are still caught. */
	return true;
drop:
	stat_inc(CTRACE_STAT_DROPPED_HOST);
	return false;
}

static __always_inline union record *scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

static __always_inline bool wants(__u32 type)
{
	return cfg_event_mask & (1U << type);
}

/* The prologue of a hook that builds a record: is the event type wanted, and does
 * the task pass the screen. */
static __always_inline bool screened(__u32 type, struct task_key *k)
{
	if (!wants(type))
		return false;
	task_key_init(k);
	return screen_task(k);
}

/* The same, and the per-CPU scratch record to build it in (NULL: drop). */
static __always_inline union record *screened_record(__u32 type, struct task_key *k)
{
	return screened(type, k) ? scratch_get() : NULL;
}

/* Fill the identity part of a record: everything classification needs. */
static __always_inline void fill_task(struct ctrace_hdr *hdr, struct ctrace_task *t, struct task_key *k)
{
	struct task_struct *task = k->task;
	struct kernfs_node *kn = k->cg_kn;
	__u64 uid_gid = bpf_get_current_uid_gid();
	__u8 depth = 0;

	hdr->flags = k->flags;
	hdr->ktime_ns = bpf_ktime_get_ns();
	t->pid = (__u32)bpf_get_current_pid_tgid();
	t->tgid = k->tgid;
	t->ppid = task->real_parent->tgid;
	t->nspid = k->nspid;
	t->uid = (__u32)uid_gid;
	t->gid = uid_gid >> 32;
	t->pidns_ino = k->pidns_ino;
	t->mntns_ino = task->nsproxy->mnt_ns->ns.inum;
	t->cgroup_key = k->cgroup_key;
	t->verdict = k->verdict;
	__builtin_memset(t->_pad, 0, sizeof(t->_pad));
	bpf_get_current_comm(t->comm, sizeof(t->comm));

	/* kernfs names leaf first, stopping below the hierarchy root */
#pragma unroll
	for (int i = 0; i < CTRACE_CG_LEVELS; i++) {
		struct kernfs_node *parent = kn_parent(kn);

		if (!parent)
			break;
		if (bpf_probe_read_kernel_str(t->cgroup_names[i], CTRACE_CG_NAME_LEN, kn->name) < 0) {
			t->cgroup_names[i][0] = '\0';
			stat_inc(CTRACE_STAT_READ_ERR);
		}
		depth++;
		kn = parent;
	}
	if (depth == CTRACE_CG_LEVELS && kn_parent(kn))
		hdr->flags |= CTRACE_F_CG_TRUNC;
	t->cg_depth = depth;
}

/* Wakeups. A wakeup is an irq_work in the traced task, so a record wakes the reader only when
 * it must: while the reader drains on its timer (records flowing), none does; while it sleeps
 * (reader_idle), flags 0 lets the kernel wake it for the first record that finds it caught up.
 * A record that takes the queue past cfg_wakeup_bytes forces a wakeup, once, so a burst does
 * not wait for the timer; a wakeup per record above it would cost the traced task while a busy
 * reader is not even waiting. cfg_wakeup_bytes 0: wake for every record. */
static __always_inline __u64 wakeup_flag(__u64 before, __u32 size)
{
	if (!cfg_wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	if (before < cfg_wakeup_bytes && before + size >= cfg_wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return *(volatile __u32 *)&reader_idle ? 0 : BPF_RB_NO_WAKEUP;
}

/* A variable-size record, built in scratch: copied into the ring. */
static __always_inline void submit_copy(void *rec, __u32 size)
{
	__u64 before = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	if (bpf_ringbuf_output(&events, rec, size, wakeup_flag(before, size)))
		stat_inc(CTRACE_STAT_LOST);
	else
		stat_inc(CTRACE_STAT_EMITTED);
}

/* A fixed-size record is reserved in the ring and built there: no scratch copy.
 * Bytes it leaves unwritten (past a string's NUL, unused cgroup name slots) hold
 * older ring data of this same consumer; the decoders never read them. *before is
 * what was queued ahead of it, read before the reservation counts it. */
static __always_inline void *reserve(__u32 size, __u64 *before)
{
	void *rec;

	*before = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	rec = bpf_ringbuf_reserve(&events, size, 0);
	if (!rec)
		stat_inc(CTRACE_STAT_LOST);
	return rec;
}

static __always_inline void submit_reserved(void *rec, __u64 before, __u32 size)
{
	bpf_ringbuf_submit(rec, wakeup_flag(before, size));
	stat_inc(CTRACE_STAT_EMITTED);
}

/* ---- exec --------------------------------------------------------------- */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_key k;
	union record *r;
	struct ctrace_exec *e;
	struct mm_struct *mm;
	unsigned long arg_start, arg_end, len;

	r = screened_record(CTRACE_EV_EXEC, &k);
	if (!r)
		return 0;
	e = &r->exec;
	e->hdr.type = CTRACE_EV_EXEC;
	fill_task(&e->hdr, &e->task, &k);

	/* bprm and p are BTF pointers: plain loads, no probe read per link */
	if (bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), bprm->filename) < 0)
		e->filename[0] = '\0';
	e->argc = bprm->argc;

	/* argv: one read of the NUL-separated block the kernel just copied in */
	mm = p->mm;
	arg_start = mm->arg_start;
	arg_end = mm->arg_end;
	len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > CTRACE_ARGV_LEN) {
		len = CTRACE_ARGV_LEN;
		e->hdr.flags |= CTRACE_F_ARGV_TRUNC;
	}
	if (e->argc > CTRACE_MAX_ARGS)
		e->hdr.flags |= CTRACE_F_ARGV_TRUNC;
	len &= 0x1fff; /* for the verifier: len <= CTRACE_ARGV_LEN already */
	if (len > CTRACE_ARGV_LEN)
		len = CTRACE_ARGV_LEN;
	if (len && bpf_probe_read_user(e->argv, len, (void *)arg_start) < 0) {
		stat_inc(CTRACE_STAT_READ_ERR);
		len = 0;
	}
	e->argv_len = len;
	e->hdr.size = sizeof(*e) - CTRACE_ARGV_LEN + len;
	submit_copy(e, e->hdr.size);
	return 0;
}

/* ---- exit --------------------------------------------------------------- */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit, struct task_struct *p)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_key k;
	struct ctrace_exit *e;
	__u64 queued;
	__u32 tgid;

	/* a process exits when its last thread does */
	if (task->signal->live.counter != 0)
		return 0;
	task_key_init(&k);
	tgid = k.tgid;
	if (wants(CTRACE_EV_EXIT) && screen_task(&k)) {
		e = reserve(sizeof(*e), &queued);
		if (e) {
			e->hdr.type = CTRACE_EV_EXIT;
			e->hdr.size = sizeof(*e);
			fill_task(&e->hdr, &e->task, &k);
			e->exit_code = task->exit_code;
			e->_pad = 0;
			e->start_ns = task->group_leader->start_time;
			submit_reserved(e, queued, sizeof(*e));
		}
	}
	/* The PID may be reused by anything: forget what we hold for it. Only what is there: a
	 * lookup is lock-free, a delete takes the bucket lock even for a missing key, and most
	 * processes have neither entry. (A verdict userland writes after the screen looked is
	 * left to the LRU and the stale-key check.) */
	if (k.pid_entry != PID_ENTRY_ABSENT)
		bpf_map_delete_elem(&pid_verdicts, &tgid);
	if (bpf_map_lookup_elem(&fs_ctxs, &tgid))
		bpf_map_delete_elem(&fs_ctxs, &tgid);
	return 0;
}

/* ---- mount -------------------------------------------------------------- */
/* Every mount-family hook is a sys_exit tracepoint: it knows the result, and reads the
 * arguments from the syscall's saved user registers, which the syscall does not change.
 * No sys_enter hook means no per-thread map entry from enter to exit, and no BPF run on
 * the entry of every syscall the kernel's syscall tracepoint routes to perf. */
static __always_inline struct pt_regs *syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* A user string into a fixed field; empty when absent or unreadable. */
static __always_inline void read_user_str(char *dst, __u32 size, __u64 src)
{
	if (!src || bpf_probe_read_user_str(dst, size, (const void *)src) < 0)
		dst[0] = '\0';
}

static __always_inline int mount_exit(__u32 op, long ret, __u64 source, __u64 target, __u64 fstype, __u64 flags)
{
	struct task_key k;
	struct ctrace_mount *m;
	struct fs_ctx *fc;
	__u64 queued;

	if (!screened(CTRACE_EV_MOUNT, &k))
		return 0;
	m = reserve(sizeof(*m), &queued);
	if (!m)
		return 0;
	m->hdr.type = CTRACE_EV_MOUNT;
	m->hdr.size = sizeof(*m);
	fill_task(&m->hdr, &m->task, &k);
	m->ret = ret;
	m->flags = flags;
	m->op = op;
	m->_pad = 0;
	read_user_str(m->source, sizeof(m->source), source);
	read_user_str(m->target, sizeof(m->target), target);
	read_user_str(m->fstype, sizeof(m->fstype), fstype);
	if (op == CTRACE_MOUNT_OP_MOVE_MOUNT) {
		fc = bpf_map_lookup_elem(&fs_ctxs, &k.tgid);
		if (fc) {
			__builtin_memcpy(m->fstype, fc->fstype, sizeof(m->fstype));
			if (!m->source[0])
				__builtin_memcpy(m->source, fc->source, sizeof(m->source));
		}
	}
	submit_reserved(m, queued, sizeof(*m));
	return 0;
}

SEC("tp/syscalls/sys_exit_mount")
int sys_exit_mount(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();

	/* mount(source, target, fstype, flags, data) */
	return mount_exit(CTRACE_MOUNT_OP_MOUNT, ctx->ret, PT_REGS_PARM1_SYSCALL(regs), PT_REGS_PARM2_SYSCALL(regs),
			  PT_REGS_PARM3_SYSCALL(regs), PT_REGS_PARM4_SYSCALL(regs));
}

SEC("tp/syscalls/sys_exit_move_mount")
int sys_exit_move_mount(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();

	/* move_mount(from_dfd, from_path, to_dfd, to_path, flags) */
	return mount_exit(CTRACE_MOUNT_OP_MOVE_MOUNT, ctx->ret, PT_REGS_PARM2_SYSCALL(regs),
			  PT_REGS_PARM4_SYSCALL(regs), 0, PT_REGS_PARM5_SYSCALL(regs));
}

/* fsopen(fs_name, flags): remember the fstype for this process's move_mount */
SEC("tp/syscalls/sys_exit_fsopen")
int sys_exit_fsopen(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	struct task_key k;
	union record *r;

	if (ctx->ret < 0)
		return 0;
	r = screened_record(CTRACE_EV_MOUNT, &k);
	if (!r)
		return 0;
	__builtin_memset(&r->fs, 0, sizeof(r->fs));
	read_user_str(r->fs.fstype, sizeof(r->fs.fstype), PT_REGS_PARM1_SYSCALL(regs));
	if (bpf_map_update_elem(&fs_ctxs, &k.tgid, &r->fs, BPF_ANY))
		stat_inc(CTRACE_STAT_MAP_ERR);
	return 0;
}

/* fsconfig(fd, FSCONFIG_SET_STRING, "source", value, 0): remember the source */
SEC("tp/syscalls/sys_exit_fsconfig")
int sys_exit_fsconfig(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct fs_ctx *fc;
	char key[8] = {};

	if (ctx->ret < 0 || PT_REGS_PARM2_SYSCALL(regs) != 1 /* FSCONFIG_SET_STRING */)
		return 0;
	fc = bpf_map_lookup_elem(&fs_ctxs, &tgid); /* only processes fsopen() let through */
	if (!fc)
		return 0;
	bpf_probe_read_user_str(key, sizeof(key), (void *)PT_REGS_PARM3_SYSCALL(regs));
	if (key[0] != 's' || key[1] != 'o' || key[2] != 'u' || key[3] != 'r' || key[4] != 'c' || key[5] != 'e' ||
	    key[6] != '\0')
		return 0;
	read_user_str(fc->source, sizeof(fc->source), PT_REGS_PARM4_SYSCALL(regs));
	return 0;
}
