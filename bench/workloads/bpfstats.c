/*
 * bpfstats: holds BPF run-time statistics on (bpf(BPF_ENABLE_STATS)) for as long as it lives,
 * then prints "ready 1" and sleeps; it dies with its parent (PR_SET_PDEATHSIG). Unlike the
 * kernel.bpf_stats_enabled sysctl, the fd is counted: another process that writes 0 to the
 * sysctl (a second bench ending its own detail phase) cannot switch the statistics off under
 * this one.
 */
#define _GNU_SOURCE
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	union bpf_attr attr;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	memset(&attr, 0, sizeof(attr));
	attr.enable_stats.type = BPF_STATS_RUN_TIME;
	if (syscall(SYS_bpf, BPF_ENABLE_STATS, &attr, sizeof(attr)) < 0) {
		perror("bpf(BPF_ENABLE_STATS)");
		return 1;
	}
	printf("ready 1\n");
	fflush(stdout);
	for (;;)
		pause();
}
