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
/* 0: wake the consumer for every record. Otherwise submit without wakeup
 * until this many bytes are queued; the poll thread's timer drains the rest. */
const volatile __u64 cfg_wakeup_bytes = 0;
const volatile __s32 cfg_v1_subsys_id = -1;

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

/* mount(2)/move_mount(2) arguments, from sys_enter to sys_exit of one thread */
struct mount_args {
	__u64 source; /* user pointers */
	__u64 target;
	__u64 fstype;
	__u64 flags;
	__u32 op;
	__u8 verdict;
	__u8 _pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct mount_args);
} mount_args SEC(".maps");

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

/* Records are built here: an exec record is far larger than the BPF stack. */
union record {
	struct ctrace_hdr hdr;
	struct ctrace_exec exec;
	struct ctrace_exit exit;
	struct ctrace_mount mount;
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
		return BPF_CORE_READ((struct kernfs_node___new *)kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

/* The cgroup that identifies the task: its v2 cgroup unless that is the root
 * (a v1-only or hybrid host), then the configured v1 hierarchy's cgroup. */
static __always_inline struct kernfs_node *task_cgroup_kn(struct task_struct *task, __u16 *flags)
{
	struct css_set *cset = BPF_CORE_READ(task, cgroups);
	struct cgroup *dfl = BPF_CORE_READ(cset, dfl_cgrp);
	struct cgroup_subsys_state *css;
	__s32 id = cfg_v1_subsys_id;

	if (BPF_CORE_READ(dfl, level) > 0 || id < 0)
		return BPF_CORE_READ(dfl, kn);
	if (id >= (__s32)(bpf_core_field_size(cset->subsys) / sizeof(void *)))
		return BPF_CORE_READ(dfl, kn);
	css = BPF_CORE_READ(cset, subsys[id]);
	if (!css)
		return BPF_CORE_READ(dfl, kn);
	*flags |= CTRACE_F_CG_V1;
	return BPF_CORE_READ(css, cgroup, kn);
}

/* What the screen needs, computed once per hook. */
struct task_key {
	struct task_struct *task;
	struct kernfs_node *cg_kn;
	__u64 cgroup_key;
	__u32 tgid;
	__u32 pidns_ino;
	__u16 flags;
	__u8 verdict;
};

static __always_inline void task_key_init(struct task_key *k)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pid *tp = BPF_CORE_READ(task, group_leader, thread_pid);
	unsigned int level = BPF_CORE_READ(tp, level);

	k->task = task;
	k->tgid = bpf_get_current_pid_tgid() >> 32;
	k->flags = 0;
	k->verdict = CTRACE_VERDICT_UNKNOWN;
	struct kernfs_node *kn = task_cgroup_kn(task, &k->flags);

	k->cg_kn = kn;
	k->cgroup_key = BPF_CORE_READ(kn, id);
	if (k->flags & CTRACE_F_CG_V1)
		k->cgroup_key |= CTRACE_CGKEY_V1;
	k->pidns_ino = BPF_CORE_READ(tp, numbers[level & 31].ns, ns.inum);
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

/* The prologue of a hook that builds a record: is the event type wanted, does the
 * task pass the screen, and the per-CPU scratch record to build it in (NULL: drop). */
static __always_inline union record *screened_record(__u32 type, struct task_key *k)
{
	if (!wants(type))
		return NULL;
	task_key_init(k);
	if (!screen_task(k))
		return NULL;
	return scratch_get();
}

/* Fill the identity part of a record: everything classification needs. */
static __always_inline void fill_task(struct ctrace_hdr *hdr, struct ctrace_task *t, struct task_key *k)
{
	struct task_struct *task = k->task;
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	struct pid *tp = BPF_CORE_READ(leader, thread_pid);
	unsigned int level = BPF_CORE_READ(tp, level);
	struct kernfs_node *kn = k->cg_kn;
	__u64 uid_gid = bpf_get_current_uid_gid();
	__u8 depth = 0;

	hdr->flags = k->flags;
	hdr->ktime_ns = bpf_ktime_get_ns();
	t->pid = (__u32)bpf_get_current_pid_tgid();
	t->tgid = k->tgid;
	t->ppid = BPF_CORE_READ(task, real_parent, tgid);
	t->nspid = BPF_CORE_READ(tp, numbers[level & 31].nr);
	t->uid = (__u32)uid_gid;
	t->gid = uid_gid >> 32;
	t->pidns_ino = k->pidns_ino;
	t->mntns_ino = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	t->cgroup_key = k->cgroup_key;
	t->verdict = k->verdict;
	bpf_get_current_comm(t->comm, sizeof(t->comm));

	/* kernfs names leaf first, stopping below the hierarchy root */
#pragma unroll
	for (int i = 0; i < CTRACE_CG_LEVELS; i++) {
		struct kernfs_node *parent = kn_parent(kn);

		if (!parent)
			break;
		if (bpf_probe_read_kernel_str(t->cgroup_names[i], CTRACE_CG_NAME_LEN, BPF_CORE_READ(kn, name)) < 0) {
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

/* Adaptive wakeup: wake the reader once, when the queue crosses cfg_wakeup_bytes.
 * Waking it for every record above the threshold would cost an irq_work per record
 * in the traced task while a busy reader is not even waiting; its timer drains the rest. */
static __always_inline void submit(void *rec, __u32 size)
{
	__u64 flags = BPF_RB_NO_WAKEUP;
	__u64 avail;

	if (!cfg_wakeup_bytes) {
		flags = BPF_RB_FORCE_WAKEUP;
	} else {
		avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
		if (avail < cfg_wakeup_bytes && avail + size >= cfg_wakeup_bytes)
			flags = BPF_RB_FORCE_WAKEUP;
	}
	if (bpf_ringbuf_output(&events, rec, size, flags))
		stat_inc(CTRACE_STAT_LOST);
	else
		stat_inc(CTRACE_STAT_EMITTED);
}


/* ---- exec --------------------------------------------------------------- */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_key k;
	union record *r;
	struct ctrace_exec *e;
	unsigned long arg_start, arg_end, len;

	r = screened_record(CTRACE_EV_EXEC, &k);
	if (!r)
		return 0;
	e = &r->exec;
	e->hdr.type = CTRACE_EV_EXEC;
	fill_task(&e->hdr, &e->task, &k);

	if (bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename)) < 0)
		e->filename[0] = '\0';
	e->argc = BPF_CORE_READ(bprm, argc);

	/* argv: one read of the NUL-separated block the kernel just copied in */
	arg_start = BPF_CORE_READ(p, mm, arg_start);
	arg_end = BPF_CORE_READ(p, mm, arg_end);
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
	submit(e, e->hdr.size);
	return 0;
}

/* ---- exit --------------------------------------------------------------- */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit, struct task_struct *p)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_key k;
	union record *r;
	struct ctrace_exit *e;
	__u32 tgid;

	/* a process exits when its last thread does */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	task_key_init(&k);
	tgid = k.tgid;
	if (wants(CTRACE_EV_EXIT) && screen_task(&k)) {
		r = scratch_get();
		if (r) {
			e = &r->exit;
			e->hdr.type = CTRACE_EV_EXIT;
			e->hdr.size = sizeof(*e);
			fill_task(&e->hdr, &e->task, &k);
			e->exit_code = BPF_CORE_READ(task, exit_code);
			e->_pad = 0;
			e->start_ns = BPF_CORE_READ(task, group_leader, start_time);
			submit(e, sizeof(*e));
		}
	}
	/* the PID may be reused by anything: forget its verdict */
	bpf_map_delete_elem(&pid_verdicts, &tgid);
	bpf_map_delete_elem(&fs_ctxs, &tgid);
	return 0;
}

/* ---- mount -------------------------------------------------------------- */
static __always_inline int mount_enter(__u32 op, const void *source, const void *target, const void *fstype,
				       __u64 flags)
{
	struct task_key k;
	struct mount_args a = {};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (!wants(CTRACE_EV_MOUNT))
		return 0;
	task_key_init(&k);
	if (!screen_task(&k))
		return 0;
	a.source = (__u64)source;
	a.target = (__u64)target;
	a.fstype = (__u64)fstype;
	a.flags = flags;
	a.op = op;
	a.verdict = k.verdict;
	if (bpf_map_update_elem(&mount_args, &tid, &a, BPF_ANY))
		stat_inc(CTRACE_STAT_MAP_ERR);
	return 0;
}

static __always_inline int mount_exit(__u32 op, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct mount_args *a = bpf_map_lookup_elem(&mount_args, &tid);
	struct task_key k;
	union record *r;
	struct ctrace_mount *m;
	struct fs_ctx *fc;

	if (!a)
		return 0; /* screened out at enter */
	if (a->op != op) {
		stat_inc(CTRACE_STAT_MOUNT_UNPAIRED);
		goto out;
	}
	r = scratch_get();
	if (!r)
		goto out;
	m = &r->mount;
	task_key_init(&k);
	k.verdict = a->verdict;
	m->hdr.type = CTRACE_EV_MOUNT;
	m->hdr.size = sizeof(*m);
	fill_task(&m->hdr, &m->task, &k);
	m->ret = ret;
	m->flags = a->flags;
	m->op = op;
	m->_pad = 0;
	m->source[0] = m->target[0] = m->fstype[0] = '\0';
	if (a->source)
		bpf_probe_read_user_str(m->source, sizeof(m->source), (void *)a->source);
	if (a->target)
		bpf_probe_read_user_str(m->target, sizeof(m->target), (void *)a->target);
	if (a->fstype)
		bpf_probe_read_user_str(m->fstype, sizeof(m->fstype), (void *)a->fstype);
	if (op == CTRACE_MOUNT_OP_MOVE_MOUNT) {
		fc = bpf_map_lookup_elem(&fs_ctxs, &k.tgid);
		if (fc) {
			__builtin_memcpy(m->fstype, fc->fstype, sizeof(m->fstype));
			if (!m->source[0])
				__builtin_memcpy(m->source, fc->source, sizeof(m->source));
		}
	}
	submit(m, sizeof(*m));
out:
	bpf_map_delete_elem(&mount_args, &tid);
	return 0;
}

SEC("tp/syscalls/sys_enter_mount")
int sys_enter_mount(struct trace_event_raw_sys_enter *ctx)
{
	/* mount(source, target, fstype, flags, data) */
	return mount_enter(CTRACE_MOUNT_OP_MOUNT, (void *)ctx->args[0], (void *)ctx->args[1], (void *)ctx->args[2],
			   ctx->args[3]);
}

SEC("tp/syscalls/sys_exit_mount")
int sys_exit_mount(struct trace_event_raw_sys_exit *ctx)
{
	return mount_exit(CTRACE_MOUNT_OP_MOUNT, ctx->ret);
}

SEC("tp/syscalls/sys_enter_move_mount")
int sys_enter_move_mount(struct trace_event_raw_sys_enter *ctx)
{
	/* move_mount(from_dfd, from_path, to_dfd, to_path, flags) */
	return mount_enter(CTRACE_MOUNT_OP_MOVE_MOUNT, (void *)ctx->args[1], (void *)ctx->args[3], NULL, ctx->args[4]);
}

SEC("tp/syscalls/sys_exit_move_mount")
int sys_exit_move_mount(struct trace_event_raw_sys_exit *ctx)
{
	return mount_exit(CTRACE_MOUNT_OP_MOVE_MOUNT, ctx->ret);
}

/* fsopen(fs_name, flags): remember the fstype for this process's move_mount */
SEC("tp/syscalls/sys_enter_fsopen")
int sys_enter_fsopen(struct trace_event_raw_sys_enter *ctx)
{
	struct task_key k;
	union record *r;

	r = screened_record(CTRACE_EV_MOUNT, &k);
	if (!r)
		return 0;
	__builtin_memset(&r->fs, 0, sizeof(r->fs));
	bpf_probe_read_user_str(r->fs.fstype, sizeof(r->fs.fstype), (void *)ctx->args[0]);
	if (bpf_map_update_elem(&fs_ctxs, &k.tgid, &r->fs, BPF_ANY))
		stat_inc(CTRACE_STAT_MAP_ERR);
	return 0;
}

/* fsconfig(fd, FSCONFIG_SET_STRING, "source", value, 0): remember the source */
SEC("tp/syscalls/sys_enter_fsconfig")
int sys_enter_fsconfig(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct fs_ctx *fc;
	char key[8] = {};

	if (ctx->args[1] != 1 /* FSCONFIG_SET_STRING */)
		return 0;
	fc = bpf_map_lookup_elem(&fs_ctxs, &tgid); /* only processes fsopen() let through */
	if (!fc)
		return 0;
	bpf_probe_read_user_str(key, sizeof(key), (void *)ctx->args[2]);
	if (key[0] != 's' || key[1] != 'o' || key[2] != 'u' || key[3] != 'r' || key[4] != 'c' || key[5] != 'e' ||
	    key[6] != '\0')
		return 0;
	bpf_probe_read_user_str(fc->source, sizeof(fc->source), (void *)ctx->args[3]);
	return 0;
}
