/* A stand-in for netavark that runs the real one and appends its wall time.
 *
 * bench/network.py --netavark-times compiles it once per tool, with the real
 * binary (REAL) and the tool's own log (LOG) built in, and puts it first in
 * each tool's helper_binaries_dir, so that husk's and podman's runs can be
 * split into "netavark" and "everything else" in the same run.  It execs
 * nothing but the real netavark (stdio, arguments and environment passed
 * through) and costs each call one fork and one exec more, on both sides.
 * Each line of LOG: the verb (setup/teardown/...) and the nanoseconds. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef REAL
#error "compile with -DREAL=\"/path/to/netavark\" -DLOG=\"/path/to/log\""
#endif

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    (void)argc;
    long long start = now_ns();
    pid_t child = fork();
    if (child < 0)
        return 125;
    if (child == 0) {
        argv[0] = REAL;
        execv(REAL, argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0)
        ;
    long long elapsed = now_ns() - start;
    const char *verb = "?";
    for (char **arg = argv + 1; *arg; arg++)
        if (!strcmp(*arg, "setup") || !strcmp(*arg, "teardown") || !strcmp(*arg, "version"))
            verb = *arg;
    FILE *log = fopen(LOG, "a");
    if (log) {
        fprintf(log, "%s %lld\n", verb, elapsed);
        fclose(log);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
