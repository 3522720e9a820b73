/*
 * execstorm N W PATH [TAG]: W worker processes fork and exec PATH, N times in all,
 * one child at a time each (fork, execve, waitpid). Each child gets argv
 * {PATH, <CLOCK_REALTIME ns taken just before execve>, TAG}, so a tracer's
 * report of the exec can be timed against the moment it happened.
 *
 * Prints one line: "elapsed_ns=<ns> execs=<n> failed=<k>", the wall time from
 * the first fork to the last reaped child (CLOCK_MONOTONIC). Static build: the
 * same binary runs on the host and as a container's init.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One worker: n execs in a row. Returns the number that failed. */
static int worker(long n, const char *path, const char *tag)
{
	int failed = 0;

	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			failed++;
			continue;
		}
		if (pid == 0) {
			char ts[32];
			char *argv[] = { (char *)path, ts, (char *)tag, NULL };
			char *envp[] = { "PATH=/bin:/usr/bin", NULL };

			snprintf(ts, sizeof(ts), "%lld", now_ns(CLOCK_REALTIME));
			execve(path, argv, envp);
			_exit(127);
		}
		int status;

		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	return failed;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s N W PATH [TAG]\n", argv[0]);
		return 2;
	}
	long n = atol(argv[1]);
	int w = atoi(argv[2]);
	const char *path = argv[3];
	const char *tag = argc > 4 ? argv[4] : "-";
	int pipes[64][2];

	if (n < 1 || w < 1 || w > 64) {
		fprintf(stderr, "execstorm: bad N or W\n");
		return 2;
	}
	long long t0 = now_ns(CLOCK_MONOTONIC);
	pid_t kids[64];

	for (int i = 0; i < w; i++) {
		long share = n / w + (i < n % w ? 1 : 0);

		if (pipe(pipes[i]) < 0) {
			perror("pipe");
			return 1;
		}
		kids[i] = fork();
		if (kids[i] < 0) {
			perror("fork");
			return 1;
		}
		if (kids[i] == 0) {
			int failed = worker(share, path, tag);

			if (write(pipes[i][1], &failed, sizeof(failed)) != sizeof(failed))
				_exit(1);
			_exit(0);
		}
		close(pipes[i][1]);
	}
	int failed = 0;

	for (int i = 0; i < w; i++) {
		int f = 0, status;

		if (read(pipes[i][0], &f, sizeof(f)) != sizeof(f))
			f = (int)(n / w);
		failed += f;
		waitpid(kids[i], &status, 0);
	}
	long long elapsed = now_ns(CLOCK_MONOTONIC) - t0;

	printf("elapsed_ns=%lld execs=%ld failed=%d\n", elapsed, n, failed);
	return failed ? 1 : 0;
}
