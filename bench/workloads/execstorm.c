/*
 * execstorm N W PATH [TAG [ARGV_BYTES [RATE]]]: W worker processes fork and exec PATH, N
 * times in all, one child at a time each (fork, execve, waitpid). Each child gets argv
 * {PATH, <CLOCK_MONOTONIC ns taken just before execve>, TAG}, so a tracer's
 * report of the exec can be timed against the moment it happened (monotonic: the VM's
 * wall clock was seen stepped by 16 s during a 74-minute run).
 * ARGV_BYTES > 0 adds a fourth argument of 'a's that brings the argv to that many bytes
 * (NULs included), for long-argv storms; RATE > 0 paces the workers to RATE execs/s in all
 * (each worker to RATE/W, on an absolute schedule, so a slow exec is caught up after).
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
static int worker(long n, const char *path, const char *tag, const char *pad, double period_ns)
{
	int failed = 0;
	long long start = now_ns(CLOCK_MONOTONIC);

	for (long i = 0; i < n; i++) {
		if (period_ns > 0) {
			long long due = start + (long long)(i * period_ns);
			struct timespec ts = { .tv_sec = due / 1000000000LL, .tv_nsec = due % 1000000000LL };

			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
		}
		pid_t pid = fork();

		if (pid < 0) {
			failed++;
			continue;
		}
		if (pid == 0) {
			char ts[32];
			char *argv[] = { (char *)path, ts, (char *)tag, (char *)pad, NULL };
			char *envp[] = { "PATH=/bin:/usr/bin", NULL };

			snprintf(ts, sizeof(ts), "%lld", now_ns(CLOCK_MONOTONIC));
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
		fprintf(stderr, "usage: %s N W PATH [TAG [ARGV_BYTES [RATE]]]\n", argv[0]);
		return 2;
	}
	long n = atol(argv[1]);
	int w = atoi(argv[2]);
	const char *path = argv[3];
	const char *tag = argc > 4 ? argv[4] : "-";
	long argv_bytes = argc > 5 ? atol(argv[5]) : 0;
	double rate = argc > 6 ? atof(argv[6]) : 0;
	char *pad = NULL;

	/* the other arguments: PATH, a 19-digit timestamp, TAG, with their NULs */
	long used = (long)strlen(path) + 1 + 20 + (long)strlen(tag) + 1;

	if (argv_bytes > used + 1) {
		pad = malloc(argv_bytes - used);
		memset(pad, 'a', argv_bytes - used - 1);
		pad[argv_bytes - used - 1] = 0;
	}
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
			int failed = worker(share, path, tag, pad, rate > 0 ? 1e9 * w / rate : 0);

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
