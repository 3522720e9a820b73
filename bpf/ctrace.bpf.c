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
/* The host's root directory (PID 1's fs->root): its file system's dev_t (sb->s_dev) and
 * its inode. Not the mount: `unshare -m` copies the root mount (a new mount id) but the
 * directory stays the host's. 0: unknown, no isolation check. */
const volatile __u32 cfg_host_root_dev = 0;
const volatile __u64 cfg_host_root_ino = 0;
/* argv bytes an exec records (<= CTRACE_ARGV_LEN), and ancestors (<= CTRACE_MAX_ANCESTORS) */
const volatile __u32 cfg_argv_max = CTRACE_ARGV_DEFAULT;
const volatile __u32 cfg_ancestors = 8;

/* ---- written by the poll thread (mmapped .bss) -------------------------- */
/* 1 while the reader sleeps until woken (it found the ring empty for a while). */
__u32 reader_idle = 0;

/* ---- written by the hooks ------------------------------------------------ */
/* 1 once fsopen() left a context in fs_ctxs: until then an exit has none to forget and skips
 * the lookup (set before the entry is, by the process whose exit comes later). */
__u32 fs_ctxs_used = 0;

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
	__uint(max_entries, 16384); /* src/classify/verdicts.ts CGROUP_VERDICTS_MAX: userland never holds more */
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
	__u32 mflags; /* CTRACE_MF_*: the source changed during fsconfig(), or was cut */
	__u32 _pad;
};

/* What a mount-family syscall's entry saw, per thread, for its exit to compare: the user
 * strings (a second thread may rewrite them during the call), the mount namespace's newest
 * mount id (the mounts the call creates have higher ids), and for move_mount() the mount
 * from_dfd named and where it was. */
struct mount_enter {
	__u64 armed; /* set by the entry, cleared by the exit that takes the snapshot */
	__u64 cgroup_key; /* the entry's screen: it let the call through with this verdict */
	__u16 flags;
	__u8 verdict;
	__u8 _pad[5];
	__u64 last_id;
	__u64 from_mnt;
	__u64 from_parent;
	__u64 from_mp;
	char source[CTRACE_PATH_LEN];
	char target[CTRACE_PATH_LEN];
	char fstype[CTRACE_FSTYPE_LEN];
};

/* Per thread, in the task itself: no hashing, no LRU lock, nothing to delete (it goes with
 * the thread), and no shared bound a flood of threads could evict others' snapshots from. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct mount_enter);
} mount_enters SEC(".maps");

/* A mount point's path is built here backwards, leaf first; twice CTRACE_PATH_LEN and
 * more so that every masked offset the verifier sees stays inside. */
#define PATHBUF_LEN 1024
#define PATH_DEPTH 64

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[PATHBUF_LEN]);
} pathbufs SEC(".maps");

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

/* A plain array indexed by CPU (sized to the possible CPUs by the addon): an exec record with
 * a 32 KiB argv is larger than a per-CPU map's value may be. The hooks run with migration
 * disabled, so a CPU's slot is this hook's alone while it runs, as a per-CPU slot would be. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
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

/* The task's root is not the host's root directory. Only asked of tasks outside the host
 * PID namespace whose cgroup is not a known container's. */
static __always_inline bool task_isolated(struct task_struct *task)
{
	struct fs_struct *fs = task->fs;
	struct dentry *d;

	if (!cfg_host_root_ino)
		return false;
	if (!fs)
		return true; /* cannot tell: report rather than hide */
	d = fs->root.dentry;
	return d->d_inode->i_ino != cfg_host_root_ino || d->d_sb->s_dev != cfg_host_root_dev;
}

/* The in-kernel decision (DESIGN.md): true when the event should reach userland. Not
 * counted: screen_task() counts the drops of the events themselves. */
static __always_inline bool screen_decide(struct task_key *k)
{
	struct ctrace_pid_verdict *pv;
	struct ctrace_cgroup_verdict *cv;
	bool host_ns = k->flags & CTRACE_F_HOST_PIDNS;

	if (cfg_pidns_only && host_ns && !cfg_emit_host)
		return false;

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
	/* A host cgroup is not proof: a task with its own PID namespace and its own root is
	 * isolated like a container (runc in /system.slice/x.service, or a container process
	 * moved out of its cgroup). Asked unless the cgroup is a known container's, so that
	 * userland sees the mark on a cgroup's first events too. */
	if (!host_ns && k->verdict != CTRACE_VERDICT_CONTAINER && task_isolated(k->task))
		k->flags |= CTRACE_F_ISOLATED;
	if (k->verdict == CTRACE_VERDICT_HOST && !cfg_emit_host && !(k->flags & CTRACE_F_ISOLATED))
		return false;
	/* 3./4. container, unclassified, or unknown: a task outside the host PID
	 *    namespace is a candidate; one inside it is emitted while its cgroup
	 *    is unknown so --pid=host containers are still caught. */
	return true;
}

static __always_inline bool screen_task(struct task_key *k)
{
	if (screen_decide(k))
		return true;
	stat_inc(CTRACE_STAT_DROPPED_HOST);
	return false;
}

static __always_inline union record *scratch_get(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&scratch, &cpu);
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

/* Does the record carry the cgroup's names? Not when the kernel decided by a verdict: userland
 * wrote it for this cgroup key after reading the names, and keeps them. A record without them
 * is CTRACE_CG_AREA bytes shorter, and a hook's cost grows with the ring bytes it fills. */
static __always_inline bool names_wanted(struct task_key *k)
{
	return k->verdict == CTRACE_VERDICT_UNKNOWN;
}

/* Fill the identity part of a record: everything classification needs but the cgroup's names
 * (fill_cgroup_names). */
static __always_inline void fill_task(struct ctrace_hdr *hdr, struct ctrace_task *t, struct task_key *k)
{
	struct task_struct *task = k->task;
	__u64 uid_gid = bpf_get_current_uid_gid();

	hdr->flags = names_wanted(k) ? k->flags : k->flags | CTRACE_F_CG_KNOWN;
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
	t->start_ns = task->group_leader->start_boottime;
	t->parent_start_ns = task->real_parent->group_leader->start_boottime;
	t->verdict = k->verdict;
	t->cg_depth = 0;
	__builtin_memset(t->_pad, 0, sizeof(t->_pad));
	bpf_get_current_comm(t->comm, sizeof(t->comm));
}

/* The cgroup's kernfs names, leaf first, stopping below the hierarchy root. */
static __always_inline void fill_cgroup_names(struct ctrace_hdr *hdr, struct ctrace_task *t,
					      char (*names)[CTRACE_CG_NAME_LEN], struct task_key *k)
{
	struct kernfs_node *kn = k->cg_kn;
	__u8 depth = 0;

#pragma unroll
	for (int i = 0; i < CTRACE_CG_LEVELS; i++) {
		struct kernfs_node *parent = kn_parent(kn);

		if (!parent)
			break;
		if (bpf_probe_read_kernel_str(names[i], CTRACE_CG_NAME_LEN, kn->name) < 0) {
			names[i][0] = '\0';
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
#define OVERLAYFS_SUPER_MAGIC 0x794c7630

/* overlayfs's inode: an upper dentry means the file was written (or copied up) in the
 * container's own layer, not taken from the image. */
struct ovl_inode___ctrace {
	struct inode vfs_inode;
	struct dentry *__upperdentry;
} __attribute__((preserve_access_index));

/* i_ctime became i_ctime_sec/_nsec in 6.11, after being __i_ctime */
struct inode___ctime_split {
	time64_t i_ctime_sec;
	u32 i_ctime_nsec;
} __attribute__((preserve_access_index));
struct inode___ctime_old {
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

/* The binary: its inode (the userland hash cache's key) and what it is. */
static __always_inline void exe_facts(struct ctrace_exec *e, struct file *file)
{
	struct inode *inode = file->f_inode;
	struct super_block *sb = inode->i_sb;
	const unsigned char *name = file->f_path.dentry->d_name.name;
	char prefix[7] = {};
	__u32 xf = 0;

	e->exe_ino = inode->i_ino;
	e->exe_size = inode->i_size;
	e->exe_dev = sb->s_dev;
	if (bpf_core_field_exists(struct inode___ctime_split, i_ctime_sec)) {
		struct inode___ctime_split *i = (void *)inode;

		e->exe_ctime_ns = i->i_ctime_sec * 1000000000ULL + i->i_ctime_nsec;
	} else if (bpf_core_field_exists(struct inode___ctime_old, __i_ctime)) {
		struct inode___ctime_old *i = (void *)inode;

		e->exe_ctime_ns = i->__i_ctime.tv_sec * 1000000000ULL + i->__i_ctime.tv_nsec;
	} else {
		e->exe_ctime_ns = 0;
	}
	if (inode->i_nlink == 0)
		xf |= CTRACE_XF_DELETED;
	if (sb->s_magic == OVERLAYFS_SUPER_MAGIC) {
		struct ovl_inode___ctrace *oi = container_of(inode, struct ovl_inode___ctrace, vfs_inode);
		struct dentry *upper = NULL;

		xf |= CTRACE_XF_OVERLAY;
		bpf_core_read(&upper, sizeof(upper), &oi->__upperdentry);
		if (upper)
			xf |= CTRACE_XF_UPPER;
	}
	/* memfd_create() names its file "memfd:<name>" */
	bpf_probe_read_kernel(prefix, 6, name);
	if (prefix[0] == 'm' && prefix[1] == 'e' && prefix[2] == 'm' && prefix[3] == 'f' && prefix[4] == 'd' &&
	    prefix[5] == ':')
		xf |= CTRACE_XF_MEMFD;
	e->xflags |= xf;
}

/* The ancestors, nearest first: each one's identity and where it runs, up to and including
 * the first that is outside the exec'ing task's PID namespace (who entered the container)
 * or is its namespace's init (the container's), at most cfg_ancestors. */
static __always_inline void ancestors(struct ctrace_exec *e, struct task_struct *task, __u32 pidns_ino)
{
	struct task_struct *a = task->real_parent;
	__u32 max = cfg_ancestors < CTRACE_MAX_ANCESTORS ? cfg_ancestors : CTRACE_MAX_ANCESTORS;
	__u8 n = 0;

	for (__u32 i = 0; i < CTRACE_MAX_ANCESTORS; i++) {
		struct ctrace_ancestor *c = (struct ctrace_ancestor *)e->data + i;
		struct task_struct *leader;
		struct pid *tp;
		struct upid up = {};
		__u16 ignored = 0;

		if (i >= max) {
			if (a && a->tgid > 0)
				e->xflags |= CTRACE_XF_ANC_MORE;
			break;
		}
		if (!a || a->tgid == 0) /* the idle task: the chain is complete */
			break;
		leader = a->group_leader;
		tp = leader->thread_pid;
		bpf_core_read(&up, sizeof(up), &tp->numbers[tp->level & 31]);
		c->tgid = a->tgid;
		c->start_ns = leader->start_boottime;
		c->cgroup_key = task_cgroup_kn(a, &ignored)->id;
		if (ignored & CTRACE_F_CG_V1)
			c->cgroup_key |= CTRACE_CGKEY_V1;
		c->nspid = up.nr;
		c->pidns_ino = BPF_CORE_READ(up.ns, ns.inum);
		c->_pad = 0;
		bpf_probe_read_kernel_str(c->comm, sizeof(c->comm), leader->comm);
		n++;
		if (c->pidns_ino != pidns_ino || c->nspid == 1)
			break;
		if (a->real_parent == a)
			break;
		a = a->real_parent;
	}
	e->n_ancestors = n;
}

static __always_inline bool task_cwd(char *dst, __u32 *len, __u32 *xflags);

/* What the exec is and who did it, beyond the common task fields. */
static __always_inline void exec_facts(struct ctrace_exec *e, struct task_struct *p, struct linux_binprm *bprm,
				       __u32 pidns_ino)
{
	const struct cred *cred = p->cred;
	struct tty_struct *tty = p->signal->tty;

	e->xflags = 0;
	__builtin_memset(e->_pad2, 0, sizeof(e->_pad2));
	e->exec_seq = (__u32)p->self_exec_id;
	exe_facts(e, bprm->file);
	bpf_core_read(&e->cap_effective, sizeof(e->cap_effective), &cred->cap_effective);
	e->userns_ino = cred->user_ns->ns.inum;
	e->userns_level = cred->user_ns->level;
	if (bpf_core_field_exists(p->loginuid)) {
		e->loginuid = p->loginuid.val;
		e->sessionid = p->sessionid;
	} else {
		e->loginuid = e->sessionid = (__u32)-1;
		e->xflags |= CTRACE_XF_NO_AUDIT;
	}
	e->tty[0] = '\0';
	if (tty) {
		bpf_probe_read_kernel_str(e->tty, sizeof(e->tty), tty->name);
		/* devpts names its terminals pts0, pts1, ...: the device is /dev/pts/0, known as pts/0 */
		if (e->tty[0] == 'p' && e->tty[1] == 't' && e->tty[2] == 's' && e->tty[3] >= '0' && e->tty[3] <= '9') {
			bpf_probe_read_kernel_str(e->tty + 4, sizeof(e->tty) - 4, tty->name + 3);
			e->tty[3] = '/';
		}
	}
	ancestors(e, p, pidns_ino);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_key k;
	union record *r;
	struct ctrace_exec *e;
	struct mm_struct *mm;
	unsigned long arg_start, arg_end, len;
	long flen;
	__u32 size, anc, clen = 0;
	char *fname, *cwd, *argv;

	r = screened_record(CTRACE_EV_EXEC, &k);
	if (!r)
		return 0;
	e = &r->exec;
	e->hdr.type = CTRACE_EV_EXEC;
	fill_task(&e->hdr, &e->task, &k);

	/* the ancestors first: they lead the data, the cgroup's names and the filename follow */
	exec_facts(e, p, bprm, k.pidns_ino);
	anc = (e->n_ancestors * sizeof(struct ctrace_ancestor)) & (CTRACE_ANC_AREA - 1);
	if (names_wanted(&k)) {
		fill_cgroup_names(&e->hdr, &e->task, (char(*)[CTRACE_CG_NAME_LEN])(e->data + anc), &k);
		anc += e->task.cg_depth * CTRACE_CG_NAME_LEN;
		if (anc > CTRACE_ANC_AREA + CTRACE_CG_AREA) /* for the verifier: it is not */
			anc = CTRACE_ANC_AREA + CTRACE_CG_AREA;
	}
	fname = e->data + anc;

	/* bprm and p are BTF pointers: plain loads, no probe read per link */
	flen = bpf_probe_read_kernel_str(fname, CTRACE_FILENAME_LEN, bprm->filename);
	if (flen <= 0) {
		fname[0] = '\0';
		flen = 1;
	} else if (flen == CTRACE_FILENAME_LEN) {
		/* full buffer: cut unless the name ends exactly here */
		char next = 0;

		bpf_probe_read_kernel(&next, 1, bprm->filename + CTRACE_FILENAME_LEN - 1);
		if (next)
			e->hdr.flags |= CTRACE_F_FILENAME_TRUNC;
	}
	flen &= CTRACE_FILENAME_LEN - 1 | CTRACE_FILENAME_LEN; /* for the verifier: 1..4096 */
	if (flen > CTRACE_FILENAME_LEN)
		flen = CTRACE_FILENAME_LEN;
	e->filename_len = flen - 1;
	e->argc = bprm->argc;

	/* the working directory after the filename's NUL, argv after its own */
	cwd = fname + flen;
	if (!task_cwd(cwd, &clen, &e->xflags)) {
		cwd[0] = '\0';
		clen = 0;
		e->xflags |= CTRACE_XF_NO_CWD;
	}
	clen &= CTRACE_PATH_LEN - 1; /* for the verifier: it is below CTRACE_PATH_LEN already */
	e->cwd_len = clen;
	argv = cwd + clen + 1;

	/* argv: one read of the NUL-separated block the kernel just copied in */
	mm = p->mm;
	arg_start = mm->arg_start;
	arg_end = mm->arg_end;
	len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > cfg_argv_max) {
		len = cfg_argv_max;
		e->hdr.flags |= CTRACE_F_ARGV_TRUNC;
	}
	len &= 0xffff; /* for the verifier: len <= CTRACE_ARGV_LEN already */
	if (len > CTRACE_ARGV_LEN)
		len = CTRACE_ARGV_LEN;
	if (len && bpf_probe_read_user(argv, len, (void *)arg_start) < 0) {
		stat_inc(CTRACE_STAT_READ_ERR);
		len = 0;
	}
	e->argv_len = len;
	size = offsetof(struct ctrace_exec, data) + anc + flen + clen + 1 + len;
	if (size > sizeof(*e)) /* for the verifier: it is not */
		size = sizeof(*e);
	e->hdr.size = size;
	submit_copy(e, size);
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
		/* two constant sizes: a ring reservation's size must be known to the verifier */
		bool names = names_wanted(&k);
		__u32 size = names ? sizeof(*e) : offsetof(struct ctrace_exit, cgroup_names);

		e = names ? reserve(sizeof(*e), &queued) : reserve(offsetof(struct ctrace_exit, cgroup_names), &queued);
		if (e) {
			e->hdr.type = CTRACE_EV_EXIT;
			e->hdr.size = size;
			fill_task(&e->hdr, &e->task, &k);
			if (names)
				fill_cgroup_names(&e->hdr, &e->task, e->cgroup_names, &k);
			e->exit_code = task->exit_code;
			e->_pad = 0;
			e->start_ns = task->group_leader->start_time;
			submit_reserved(e, queued, size);
		}
	}
	/* The PID may be reused by anything: forget what we hold for it. Only what is there: a
	 * lookup is lock-free, a delete takes the bucket lock even for a missing key, and most
	 * processes have neither entry. (A verdict userland writes after the screen looked is
	 * left to the LRU and the stale-key check.) */
	if (k.pid_entry != PID_ENTRY_ABSENT)
		bpf_map_delete_elem(&pid_verdicts, &tgid);
	if (fs_ctxs_used && bpf_map_lookup_elem(&fs_ctxs, &tgid))
		bpf_map_delete_elem(&fs_ctxs, &tgid);
	return 0;
}

/* ---- cgroup removal ----------------------------------------------------- */
/* A removed cgroup's verdict goes, and userland is told to forget what it holds for it: under
 * container churn (CI runners, short jobs) the per-cgroup state then follows the live cgroups
 * instead of filling every cache to its bound. Optional: without the tracepoint the caches'
 * bounds still hold. */
SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	struct ctrace_cgroup_gone g = {};
	__u64 key = cgrp->kn->id;
	const __s32 v1 = cfg_v1_subsys_id;

	if (cgrp->root->hierarchy_id != 0) {
		/* a v1 hierarchy: the one whose cgroups key tasks (task_cgroup_kn), if any */
		if (v1 < 0 || v1 >= 32 || !(cgrp->root->subsys_mask & (1U << v1)))
			return 0;
		key |= CTRACE_CGKEY_V1;
	}
	/* every removal is reported, not only those with a verdict here: a short-lived cgroup is
	 * gone before userland has classified it, and its verdict is written after this */
	bpf_map_delete_elem(&cgroup_verdicts, &key); /* -ENOENT when it had none */
	g.hdr.type = CTRACE_EV_CGROUP_GONE;
	g.hdr.size = sizeof(g);
	g.hdr.ktime_ns = bpf_ktime_get_ns();
	g.cgroup_key = key;
	bpf_ringbuf_output(&events, &g, sizeof(g), wakeup_flag(bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA), sizeof(g)));
	return 0;
}

/* ---- mount -------------------------------------------------------------- */
/* The hooks read the arguments from the syscall's saved user registers at entry and exit
 * (the syscall does not change them) and the strings they point to from user memory, which
 * another thread can rewrite at any time: what the kernel actually mounted is read from its
 * mount structures at exit, and a change seen between entry and exit is reported. */
static __always_inline struct pt_regs *syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* A user string into a fixed field (empty when absent or unreadable); a string that fills
 * the field sets trunc in *mflags unless it ends exactly there. */
static __always_inline void read_user_str(char *dst, __u32 size, __u64 src, __u32 *mflags, __u32 trunc)
{
	char next = 0;
	long n;

	if (!src) {
		dst[0] = '\0';
		return;
	}
	n = bpf_probe_read_user_str(dst, size, (const void *)src);
	if (n < 0) {
		dst[0] = '\0';
		return;
	}
	if (n == size && !bpf_probe_read_user(&next, 1, (const void *)(src + size - 1)) && next)
		*mflags |= trunc;
}

static __always_inline void read_kernel_str(char *dst, __u32 size, __u64 src, __u32 *mflags, __u32 trunc)
{
	char next = 0;
	long n;

	n = src ? bpf_probe_read_kernel_str(dst, size, (const void *)src) : -1;
	if (n < 0) {
		dst[0] = '\0';
		return;
	}
	if (n == size && !bpf_probe_read_kernel(&next, 1, (const void *)(src + size - 1)) && next)
		*mflags |= trunc;
}

static __always_inline bool str_differs(const char *a, const char *b, __u32 size)
{
	for (__u32 i = 0; i < size; i++) {
		if (a[i] != b[i])
			return true;
		if (!a[i])
			break;
	}
	return false;
}

/* 6.8+: a namespace keeps its mounts in an rb-tree ordered by mnt_id_unique, a 64-bit id
 * never reused, and remembers the last node. */
struct mnt_namespace___tree {
	struct rb_root mounts;
	struct rb_node *mnt_last_node;
} __attribute__((preserve_access_index));
struct mount___tree {
	struct rb_node mnt_node;
	__u64 mnt_id_unique;
} __attribute__((preserve_access_index));

/* bpf_loop (5.17+) walks the tree and the mount point's path. Both are CO-RE constants after
 * relocation: on a kernel without them the code using them is dead and the records fall back
 * to the caller's claim. */
static __always_inline bool have_bpf_loop(void)
{
	return bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop);
}

static __always_inline bool have_mount_tree(void)
{
	return bpf_core_field_exists(struct mnt_namespace___tree, mnt_last_node) &&
	       bpf_core_field_exists(struct mount___tree, mnt_id_unique) && have_bpf_loop();
}

/* Kernel addresses are kept as numbers and read through probe reads: they are compared,
 * offset (container_of) and kept in maps, which the verifier allows only for scalars. */
static __always_inline __u64 node_mount(__u64 node)
{
	return node ? node - bpf_core_field_offset(struct mount___tree, mnt_node) : 0;
}

static __always_inline __u64 mount_unique_id(__u64 mnt)
{
	__u64 id = 0;

	bpf_core_read(&id, sizeof(id), &((struct mount___tree *)mnt)->mnt_id_unique);
	return id;
}

static __always_inline __u64 current_mnt_ns(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 ns = 0;

	bpf_core_read(&ns, sizeof(ns), &task->nsproxy->mnt_ns);
	return ns;
}

/* The id of the newest mount in the caller's namespace; 0 when the kernel cannot say. */
static __always_inline __u64 newest_mount_id(void)
{
	__u64 ns = current_mnt_ns(), last = 0;

	if (!have_mount_tree() || !ns)
		return 0;
	bpf_core_read(&last, sizeof(last), &((struct mnt_namespace___tree *)ns)->mnt_last_node);
	return last ? mount_unique_id(node_mount(last)) : 0;
}

struct find_ctx {
	__u64 node;
	__u64 best;
	__u64 after;
};

/* One step down the tree towards the smallest id above ctx->after. */
static long find_step(__u64 i, struct find_ctx *c)
{
	struct rb_node n = {};

	if (!c->node)
		return 1;
	if (bpf_probe_read_kernel(&n, sizeof(n), (void *)c->node))
		return 1;
	if (mount_unique_id(node_mount(c->node)) > c->after) {
		c->best = c->node;
		c->node = (__u64)n.rb_left;
	} else {
		c->node = (__u64)n.rb_right;
	}
	return 0;
}

/* The node before the tree's last one, when that is certain without a walk: the last node has
 * no right child, so its predecessor is its left child (in a red-black tree at most one red
 * leaf) or else its parent. 1: the answer is in *pred (0: none); 0: walk. */
static __always_inline int last_predecessor(__u64 last, __u64 *pred)
{
	struct rb_node n = {}, l = {};

	if (bpf_probe_read_kernel(&n, sizeof(n), (void *)last) || n.rb_right)
		return 0;
	if (n.rb_left) {
		if (bpf_probe_read_kernel(&l, sizeof(l), n.rb_left) || l.rb_right)
			return 0;
		*pred = (__u64)n.rb_left;
		return 1;
	}
	*pred = n.__rb_parent_color & ~3UL;
	return 1;
}

/* The first mount the namespace gained after id `after` (the call's own mount: later ones are
 * propagated copies or a recursive bind's submounts), and whether there were others. */
static __always_inline __u64 first_mount_after(__u64 after, bool *others)
{
	struct find_ctx c = { .after = after };
	__u64 ns = current_mnt_ns(), last = 0, pred = 0, mnt;

	if (!ns)
		return 0;
	bpf_core_read(&last, sizeof(last), &((struct mnt_namespace___tree *)ns)->mnt_last_node);
	/* the common case, one new mount, the newest: it is the last node and the one before it
	 * is older than the call (ids are never reused); no walk from the root */
	if (last && mount_unique_id(node_mount(last)) > after && last_predecessor(last, &pred) &&
	    (!pred || mount_unique_id(node_mount(pred)) <= after)) {
		*others = false;
		return node_mount(last);
	}
	bpf_core_read(&c.node, sizeof(c.node), &((struct mnt_namespace___tree *)ns)->mounts.rb_node);
	bpf_loop(PATH_DEPTH, find_step, &c, 0);
	mnt = node_mount(c.best);
	*others = c.best != last;
	return mnt;
}

/* The mount an fd refers to (fsmount(), open_tree()): its struct mount's address. */
static __always_inline __u64 fd_mount(__s64 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 fdt = 0, fda = 0, file = 0, vm = 0;
	unsigned int max = 0;

	if (fd < 0 || fd > 0xfffff)
		return 0;
	bpf_core_read(&fdt, sizeof(fdt), &task->files->fdt);
	if (!fdt)
		return 0;
	bpf_core_read(&max, sizeof(max), &((struct fdtable *)fdt)->max_fds);
	bpf_core_read(&fda, sizeof(fda), &((struct fdtable *)fdt)->fd);
	if (fd >= max || !fda)
		return 0;
	bpf_probe_read_kernel(&file, sizeof(file), (void *)(fda + fd * sizeof(void *)));
	if (!file)
		return 0;
	bpf_core_read(&vm, sizeof(vm), &((struct file *)file)->f_path.mnt);
	return vm ? vm - bpf_core_field_offset(struct mount, mnt) : 0;
}

static __always_inline void mount_place(__u64 mnt, __u64 *parent, __u64 *mp)
{
	bpf_core_read(parent, sizeof(*parent), &((struct mount *)mnt)->mnt_parent);
	bpf_core_read(mp, sizeof(*mp), &((struct mount *)mnt)->mnt_mountpoint);
}

struct path_ctx {
	__u64 dentry;
	__u64 mnt;
	__u64 root_dentry;
	__u64 root_mnt;
	__u32 off;  /* the path starts at pathbuf[off] and ends at pathbuf[CTRACE_PATH_LEN] */
	__u32 done; /* 0 walking, 1 complete, 2 cut */
};

/* One step of a d_path(): a component, or a hop from a mount's root to its mount point. */
static long path_step(__u64 i, struct path_ctx *c)
{
	__u32 zero = 0, len, off;
	__u64 d = c->dentry, m = c->mnt, root = 0, parent = 0;
	struct qstr name = {};
	char *buf;

	if (d == c->root_dentry && m == c->root_mnt) {
		c->done = 1;
		return 1;
	}
	bpf_core_read(&root, sizeof(root), &((struct mount *)m)->mnt.mnt_root);
	if (d == root) {
		bpf_core_read(&parent, sizeof(parent), &((struct mount *)m)->mnt_parent);
		if (!parent || parent == m) { /* the namespace's root */
			c->done = 1;
			return 1;
		}
		bpf_core_read(&c->dentry, sizeof(c->dentry), &((struct mount *)m)->mnt_mountpoint);
		c->mnt = parent;
		return 0;
	}
	bpf_core_read(&parent, sizeof(parent), &((struct dentry *)d)->d_parent);
	if (!parent || parent == d) {
		c->done = 1;
		return 1;
	}
	bpf_core_read(&name, sizeof(name), &((struct dentry *)d)->d_name);
	len = name.len;
	off = c->off;
	buf = bpf_map_lookup_elem(&pathbufs, &zero);
	if (!buf || len >= CTRACE_PATH_LEN || len + 1 >= off || off > CTRACE_PATH_LEN) {
		c->done = 2;
		return 1;
	}
	off -= len;
	/* the compiler knows these bounds and drops the masks; the verifier needs them */
	barrier_var(len);
	barrier_var(off);
	if (bpf_probe_read_kernel(buf + (off & (CTRACE_PATH_LEN * 2 - 1)), len & (CTRACE_PATH_LEN - 1), name.name)) {
		c->done = 2;
		return 1;
	}
	off--;
	buf[off & (CTRACE_PATH_LEN * 2 - 1)] = '/';
	c->off = off;
	c->dentry = parent;
	return 0;
}

/* The walk's end: the task's root (a path is relative to it). */
static __always_inline void path_root(struct path_ctx *c, struct task_struct *task)
{
	__u64 vm = 0;

	bpf_core_read(&c->root_dentry, sizeof(c->root_dentry), &task->fs->root.dentry);
	bpf_core_read(&vm, sizeof(vm), &task->fs->root.mnt);
	c->root_mnt = vm ? vm - bpf_core_field_offset(struct mount, mnt) : 0;
}

/* Walks from c's dentry up to its root in buf (built back to front), then copies the path
 * and its NUL into dst (*len: its bytes, the NUL not counted); a path that does not fit keeps
 * its last components. False when it was cut. */
static __always_inline bool path_walk(struct path_ctx *c, char *buf, char *dst, __u32 *len)
{
	__u32 off, n;

	c->off = CTRACE_PATH_LEN;
	buf[CTRACE_PATH_LEN] = '\0';
	bpf_loop(PATH_DEPTH, path_step, c, 0);
	off = c->off;
	if (off >= CTRACE_PATH_LEN) {
		off = CTRACE_PATH_LEN - 1;
		buf[off] = '/';
	}
	n = CTRACE_PATH_LEN + 1 - off; /* with the NUL */
	barrier_var(n);
	if (n > CTRACE_PATH_LEN)
		n = CTRACE_PATH_LEN;
	barrier_var(off);
	bpf_probe_read_kernel(dst, n, buf + (off & (CTRACE_PATH_LEN * 2 - 1)));
	*len = n - 1;
	return c->done == 1;
}

/* Where a mount is attached, as the task sees it (relative to its root); false when it is not
 * attached. Sets CTRACE_MF_TARGET_TRUNC when the path does not fit. */
static __always_inline bool mount_point_path(__u64 mnt, char *dst, __u32 *mflags)
{
	struct path_ctx c = {};
	__u32 zero = 0, len;
	char *buf = bpf_map_lookup_elem(&pathbufs, &zero);

	if (!buf || !have_bpf_loop())
		return false;
	mount_place(mnt, &c.mnt, &c.dentry);
	if (!c.mnt || c.mnt == mnt)
		return false;
	path_root(&c, bpf_get_current_task_btf());
	if (!path_walk(&c, buf, dst, &len))
		*mflags |= CTRACE_MF_TARGET_TRUNC;
	return true;
}

/* The task's working directory as it sees it (relative to its root) and its NUL into dst
 * (*len: its bytes), cut with CTRACE_XF_CWD_TRUNC; false when the kernel cannot walk paths (no
 * bpf_loop). */
static __always_inline bool task_cwd(char *dst, __u32 *len, __u32 *xflags)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct path_ctx c = {};
	__u32 zero = 0;
	__u64 vm = 0;
	char *buf = bpf_map_lookup_elem(&pathbufs, &zero);

	if (!buf || !have_bpf_loop())
		return false;
	bpf_core_read(&c.dentry, sizeof(c.dentry), &task->fs->pwd.dentry);
	bpf_core_read(&vm, sizeof(vm), &task->fs->pwd.mnt);
	c.mnt = vm ? vm - bpf_core_field_offset(struct mount, mnt) : 0;
	path_root(&c, task);
	if (!c.dentry || !c.mnt)
		return false;
	if (!path_walk(&c, buf, dst, len))
		*xflags |= CTRACE_XF_CWD_TRUNC;
	return true;
}

/* The record's strings from the mount itself: device name, file system type, mount point. */
static __always_inline bool kernel_view(struct ctrace_mount *m, __u64 mnt)
{
	__u32 f = 0;
	__u64 devname = 0, type_name = 0;

	if (!mount_point_path(mnt, m->target, &f))
		return false;
	bpf_core_read(&devname, sizeof(devname), &((struct mount *)mnt)->mnt_devname);
	type_name = (__u64)BPF_CORE_READ((struct mount *)mnt, mnt.mnt_sb, s_type, name);
	read_kernel_str(m->source, sizeof(m->source), devname, &f, CTRACE_MF_SOURCE_TRUNC);
	read_kernel_str(m->fstype, sizeof(m->fstype), type_name, &f, CTRACE_MF_FSTYPE_TRUNC);
	m->mflags = (m->mflags & ~(CTRACE_MF_SOURCE_TRUNC | CTRACE_MF_TARGET_TRUNC | CTRACE_MF_FSTYPE_TRUNC)) | f |
		    CTRACE_MF_KERNEL_VIEW;
	return true;
}

static __always_inline void mount_enter(__u64 source, __u64 target, __u64 fstype, __s64 from_fd)
{
	__u32 ignored = 0;
	struct task_key k;
	struct mount_enter *me;

	/* a task the exit will not report needs no snapshot: host mounts cost two map lookups
	 * here, not three user strings (a verdict that changes during the call leaves the exit
	 * without a snapshot: it reports the mount unverified) */
	if (!wants(CTRACE_EV_MOUNT))
		return;
	task_key_init(&k);
	if (!screen_decide(&k))
		return;
	me = bpf_task_storage_get(&mount_enters, k.task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!me) {
		stat_inc(CTRACE_STAT_MAP_ERR);
		return;
	}
	me->cgroup_key = k.cgroup_key;
	me->flags = k.flags;
	me->verdict = k.verdict;
	me->last_id = newest_mount_id();
	me->from_mnt = me->from_parent = me->from_mp = 0;
	if (from_fd >= 0) {
		me->from_mnt = fd_mount(from_fd);
		if (me->from_mnt)
			mount_place(me->from_mnt, &me->from_parent, &me->from_mp);
	}
	read_user_str(me->source, sizeof(me->source), source, &ignored, 0);
	read_user_str(me->target, sizeof(me->target), target, &ignored, 0);
	read_user_str(me->fstype, sizeof(me->fstype), fstype, &ignored, 0);
	me->armed = 1;
}

/* The entry's snapshot, disarmed (NULL: none, e.g. tracing began mid-call). It stays valid
 * through the exit: only this thread's next entry writes it again. */
static __always_inline struct mount_enter *mount_entered(void)
{
	struct mount_enter *me = bpf_task_storage_get(&mount_enters, bpf_get_current_task_btf(), 0, 0);

	if (!me || !me->armed)
		return NULL;
	me->armed = 0;
	return me;
}

#define MOVE_MOUNT_F_EMPTY_PATH 0x04
/* mount(2) flags under which the call creates no mount: MS_REMOUNT, MS_MOVE, MS_UNBINDABLE,
 * MS_PRIVATE, MS_SLAVE, MS_SHARED */
#define MS_NO_NEW_MOUNT (0x20 | 0x2000 | (1 << 17) | (1 << 18) | (1 << 19) | (1 << 20))

static __always_inline int mount_exit(__u32 op, long ret, __u64 source, __u64 target, __u64 fstype, __u64 flags,
				      __s64 from_fd)
{
	struct task_key k;
	struct ctrace_mount *m;
	struct mount_enter *me;
	struct fs_ctx *fc;
	__u64 queued, mnt, parent = 0, mp = 0;
	bool others = false, verified = false, names;
	__u32 size;

	me = mount_entered();
	if (!wants(CTRACE_EV_MOUNT))
		return 0;
	task_key_init(&k);
	/* the entry screened this call in: its decision stands for the call (a verdict written
	 * meanwhile does not hide it), unless the task changed cgroups during it */
	if (me && me->cgroup_key == k.cgroup_key) {
		k.verdict = me->verdict;
		k.flags = me->flags;
	} else if (!screen_task(&k)) {
		return 0;
	}
	/* two constant sizes: a ring reservation's size must be known to the verifier */
	names = names_wanted(&k);
	size = names ? sizeof(*m) : offsetof(struct ctrace_mount, cgroup_names);
	m = names ? reserve(sizeof(*m), &queued) : reserve(offsetof(struct ctrace_mount, cgroup_names), &queued);
	if (!m)
		return 0;
	m->hdr.type = CTRACE_EV_MOUNT;
	m->hdr.size = size;
	fill_task(&m->hdr, &m->task, &k);
	if (names)
		fill_cgroup_names(&m->hdr, &m->task, m->cgroup_names, &k);
	m->ret = ret;
	m->flags = flags;
	m->op = op;
	m->mflags = 0;
	read_user_str(m->source, sizeof(m->source), source, &m->mflags, CTRACE_MF_SOURCE_TRUNC);
	read_user_str(m->target, sizeof(m->target), target, &m->mflags, CTRACE_MF_TARGET_TRUNC);
	read_user_str(m->fstype, sizeof(m->fstype), fstype, &m->mflags, CTRACE_MF_FSTYPE_TRUNC);
	if (me && (str_differs(me->source, m->source, sizeof(m->source)) ||
		   str_differs(me->target, m->target, sizeof(m->target)) ||
		   str_differs(me->fstype, m->fstype, sizeof(m->fstype))))
		m->mflags |= CTRACE_MF_ARGS_CHANGED;
	if (op == CTRACE_MOUNT_OP_MOVE_MOUNT) {
		fc = bpf_map_lookup_elem(&fs_ctxs, &k.tgid);
		if (fc) {
			__builtin_memcpy(m->fstype, fc->fstype, sizeof(m->fstype));
			if (!m->source[0])
				__builtin_memcpy(m->source, fc->source, sizeof(m->source));
			m->mflags |= fc->mflags;
		}
	}
	if (ret == 0 && me) {
		if (op == CTRACE_MOUNT_OP_MOUNT) {
			/* mount(2) creates the mount it attaches (bind, new); a remount, a move or a
			 * propagation change creates none (a mount another thread made meanwhile must
			 * not pass for it) and stays the caller's claim */
			mnt = have_mount_tree() && me->last_id && !(flags & MS_NO_NEW_MOUNT) ?
					      first_mount_after(me->last_id, &others) : 0;
			verified = mnt && kernel_view(m, mnt) && !others;
		} else if ((flags & MOVE_MOUNT_F_EMPTY_PATH) && me->from_mnt) {
			/* the mount from_dfd names, still the same one, and it moved */
			mnt = fd_mount(from_fd);
			if (mnt == me->from_mnt) {
				mount_place(mnt, &parent, &mp);
				if (parent != me->from_parent || mp != me->from_mp)
					verified = kernel_view(m, mnt);
			}
		}
	}
	if (!verified)
		m->mflags |= CTRACE_MF_ARGS_UNVERIFIED;
	submit_reserved(m, queued, size);
	return 0;
}

SEC("tp/syscalls/sys_enter_mount")
int sys_enter_mount(struct trace_event_raw_sys_enter *ctx)
{
	/* mount(source, target, fstype, flags, data) */
	return mount_enter(ctx->args[0], ctx->args[1], ctx->args[2], -1), 0;
}

SEC("tp/syscalls/sys_exit_mount")
int sys_exit_mount(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();

	return mount_exit(CTRACE_MOUNT_OP_MOUNT, ctx->ret, PT_REGS_PARM1_SYSCALL(regs), PT_REGS_PARM2_SYSCALL(regs),
			  PT_REGS_PARM3_SYSCALL(regs), PT_REGS_PARM4_SYSCALL(regs), -1);
}

SEC("tp/syscalls/sys_enter_move_mount")
int sys_enter_move_mount(struct trace_event_raw_sys_enter *ctx)
{
	/* move_mount(from_dfd, from_path, to_dfd, to_path, flags) */
	__s64 from_fd = ctx->args[4] & MOVE_MOUNT_F_EMPTY_PATH ? (__s32)ctx->args[0] : -1;

	return mount_enter(ctx->args[1], ctx->args[3], 0, from_fd), 0;
}

SEC("tp/syscalls/sys_exit_move_mount")
int sys_exit_move_mount(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();

	return mount_exit(CTRACE_MOUNT_OP_MOVE_MOUNT, ctx->ret, PT_REGS_PARM2_SYSCALL(regs),
			  PT_REGS_PARM4_SYSCALL(regs), 0, PT_REGS_PARM5_SYSCALL(regs), (__s32)PT_REGS_PARM1_SYSCALL(regs));
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
	fs_ctxs_used = 1;
	read_user_str(r->fs.fstype, sizeof(r->fs.fstype), PT_REGS_PARM1_SYSCALL(regs), &r->fs.mflags,
		      CTRACE_MF_FSTYPE_TRUNC);
	if (bpf_map_update_elem(&fs_ctxs, &k.tgid, &r->fs, BPF_ANY))
		stat_inc(CTRACE_STAT_MAP_ERR);
	return 0;
}

#define FSCONFIG_SET_STRING 1

/* fsconfig(fd, FSCONFIG_SET_STRING, "source", value, 0): the value as it was at entry */
SEC("tp/syscalls/sys_enter_fsconfig")
int sys_enter_fsconfig(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (ctx->args[1] != FSCONFIG_SET_STRING || !bpf_map_lookup_elem(&fs_ctxs, &tgid))
		return 0;
	return mount_enter(ctx->args[3], 0, 0, -1), 0;
}

/* ... and at exit: remember the source (the kernel's copy is the mount's devname later) */
SEC("tp/syscalls/sys_exit_fsconfig")
int sys_exit_fsconfig(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct mount_enter *me = NULL;
	struct fs_ctx *fc;
	char key[8] = {};

	if (PT_REGS_PARM2_SYSCALL(regs) != FSCONFIG_SET_STRING)
		return 0;
	fc = bpf_map_lookup_elem(&fs_ctxs, &tgid); /* only processes fsopen() let through */
	if (!fc)
		return 0;
	me = mount_entered();
	if (ctx->ret < 0)
		return 0;
	bpf_probe_read_user_str(key, sizeof(key), (void *)PT_REGS_PARM3_SYSCALL(regs));
	if (key[0] != 's' || key[1] != 'o' || key[2] != 'u' || key[3] != 'r' || key[4] != 'c' || key[5] != 'e' ||
	    key[6] != '\0')
		return 0;
	fc->mflags &= ~CTRACE_MF_SOURCE_TRUNC;
	read_user_str(fc->source, sizeof(fc->source), PT_REGS_PARM4_SYSCALL(regs), &fc->mflags, CTRACE_MF_SOURCE_TRUNC);
	if (me && str_differs(me->source, fc->source, sizeof(fc->source)))
		fc->mflags |= CTRACE_MF_ARGS_CHANGED;
	return 0;
}
