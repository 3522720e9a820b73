/*
 * cgholders: the processes of the bench's scale phase (bench/lib/scale.js), cheap stand-ins
 * for containers and hosts full of processes. Static; every child it makes dies with it
 * (PR_SET_PDEATHSIG), so killing this one process ends them all.
 *
 *   cgholders hold          one container per stdin line ("DIR DIR ..." : the container's
 *                           cgroup directory in each hierarchy): a child in a new PID
 *                           namespace (it is PID 1 there) that joins those cgroups and
 *                           sleeps. Prints "ready N" when every child is in place.
 *   cgholders hosts N       N sleeping children on the host. Prints "ready N".
 *   cgholders churn N EXE ROOT...
 *                           N times: mkdir ROOT/docker/<id> in every hierarchy ROOT, fork a
 *                           child that joins them and execs EXE, reap it, rmdir. The ids
 *                           begin with cbe0c0de, which the harness's clean-up looks for.
 *                           Prints "elapsed_ns=<ns> cgroups=<N> failed=<k>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_DIRS 16

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* "0" into DIR/cgroup.procs: the writing process moves itself. */
static int join_cgroup(const char *dir)
{
	char path[4096];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ok = write(fd, "0", 1) == 1;
	close(fd);
	return ok ? 0 : -1;
}

static void sleep_forever(void)
{
	for (;;)
		pause();
}

static int hold(void)
{
	char line[MAX_DIRS * 4200];
	long n = 0;

	while (fgets(line, sizeof(line), stdin)) {
		char *dirs[MAX_DIRS];
		int nd = 0;

		for (char *tok = strtok(line, " \n"); tok && nd < MAX_DIRS; tok = strtok(NULL, " \n"))
			dirs[nd++] = tok;
		if (!nd)
			continue;
		int ready[2];

		if (pipe(ready) < 0) {
			perror("pipe");
			return 1;
		}
		/* fork into a new PID namespace: the child is its PID 1, like a container's init */
		pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, NULL);

		if (pid < 0) {
			perror("clone(CLONE_NEWPID)");
			return 1;
		}
		if (pid == 0) {
			char ok = 1;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(ready[0]);
			for (int i = 0; i < nd; i++)
				if (join_cgroup(dirs[i]) < 0)
					ok = 0;
			if (write(ready[1], &ok, 1) != 1)
				_exit(1);
			close(ready[1]);
			sleep_forever();
		}
		close(ready[1]);
		char ok = 0;

		if (read(ready[0], &ok, 1) != 1 || !ok) {
			fprintf(stderr, "cgholders: child %ld could not join %s\n", n, dirs[0]);
			return 1;
		}
		close(ready[0]);
		n++;
	}
	printf("ready %ld\n", n);
	fflush(stdout);
	sleep_forever();
	return 0;
}

static int hosts(long n)
{
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			sleep_forever();
		}
	}
	printf("ready %ld\n", n);
	fflush(stdout);
	sleep_forever();
	return 0;
}

static int churn(long n, const char *exe, int nroots, char **roots)
{
	char dirs[MAX_DIRS][4096];
	long failed = 0;
	long long t0 = now_ns();

	if (nroots > MAX_DIRS)
		nroots = MAX_DIRS;
	for (long i = 0; i < n; i++) {
		char id[65];

		snprintf(id, sizeof(id), "cbe0c0de%08x%048lx", (unsigned)getpid(), (unsigned long)i);
		for (int r = 0; r < nroots; r++) {
			snprintf(dirs[r], sizeof(dirs[r]), "%s/docker/%s", roots[r], id);
			if (mkdir(dirs[r], 0755) < 0 && errno != EEXIST)
				failed++;
		}
		pid_t pid = fork();

		if (pid == 0) {
			char *argv[] = { (char *)exe, id, NULL };
			char *envp[] = { "PATH=/bin:/usr/bin", NULL };

			for (int r = 0; r < nroots; r++)
				if (join_cgroup(dirs[r]) < 0)
					_exit(126);
			execve(exe, argv, envp);
			_exit(127);
		}
		int status = 0;

		if (pid < 0)
			failed++;
		else {
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failed++;
		}
		/* the reaped child may still be leaving the cgroup: retry briefly */
		for (int r = 0; r < nroots; r++)
			for (int k = 0; k < 100 && rmdir(dirs[r]) < 0 && errno == EBUSY; k++)
				usleep(1000);
	}
	printf("elapsed_ns=%lld cgroups=%ld failed=%ld\n", now_ns() - t0, n, failed);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "hold"))
		return hold();
	if (argc >= 3 && !strcmp(argv[1], "hosts"))
		return hosts(atol(argv[2]));
	if (argc >= 5 && !strcmp(argv[1], "churn"))
		return churn(atol(argv[2]), argv[3], argc - 4, argv + 4);
	fprintf(stderr, "usage: %s hold | hosts N | churn N EXE ROOT...\n", argv[0]);
	return 2;
}
