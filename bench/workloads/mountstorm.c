/*
 * mountstorm M DIR: in a private mount namespace of its own (unshare(CLONE_NEWNS),
 * then / made MS_PRIVATE|MS_REC so nothing propagates out), mount a tmpfs on DIR
 * and unmount it, M times. Needs CAP_SYS_ADMIN (root on the host; the
 * capability added in a container).
 *
 * Prints one line: "elapsed_ns=<ns> mounts=<m> failed=<k>", the wall time of the
 * M mount/umount pairs (CLOCK_MONOTONIC), set-up excluded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s M DIR\n", argv[0]);
		return 2;
	}
	long m = atol(argv[1]);
	const char *dir = argv[2];
	int failed = 0;

	if (unshare(CLONE_NEWNS) < 0) {
		perror("mountstorm: unshare(CLONE_NEWNS)");
		return 1;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		perror("mountstorm: make / private");
		return 1;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		perror("mountstorm: mkdir");
		return 1;
	}
	long long t0 = now_ns();

	for (long i = 0; i < m; i++) {
		if (mount("ctrace-bench", dir, "tmpfs", 0, NULL) < 0) {
			failed++;
			continue;
		}
		if (umount2(dir, 0) < 0)
			failed++;
	}
	long long elapsed = now_ns() - t0;

	printf("elapsed_ns=%lld mounts=%ld failed=%d\n", elapsed, m, failed);
	return failed ? 1 : 0;
}
