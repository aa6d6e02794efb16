/* system.c — facts about the machine and process: physical cores, peak RSS, a monotonic clock. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "slm.h"

int slm_physical_cores(void) {
    /* Count distinct (physical id, core id) pairs; fall back to the online CPU count. */
    FILE *f = fopen("/proc/cpuinfo", "r");
    int n_logical = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n_logical < 1) n_logical = 1;
    if (!f) return n_logical;
    char line[256];
    int phys = -1, pairs[1024][2], n_pairs = 0;
    while (fgets(line, sizeof line, f)) {
        int v;
        if (sscanf(line, "physical id : %d", &v) == 1) phys = v;
        else if (sscanf(line, "core id : %d", &v) == 1) {
            int seen = 0;
            for (int i = 0; i < n_pairs; i++) seen |= pairs[i][0] == phys && pairs[i][1] == v;
            if (!seen && n_pairs < 1024) {
                pairs[n_pairs][0] = phys;
                pairs[n_pairs][1] = v;
                n_pairs++;
            }
        }
    }
    fclose(f);
    if (n_pairs < 1 || n_pairs > n_logical) return n_logical;
    return n_pairs;
}

size_t slm_peak_rss_bytes(void) {
    /* VmHWM is this address space's own high-water mark; getrusage's ru_maxrss survives exec and
       so can report the memory of the process that started us. */
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        unsigned long kb = 0;
        int found = 0;
        while (!found && fgets(line, sizeof line, f)) found = sscanf(line, "VmHWM: %lu kB", &kb) == 1;
        fclose(f);
        if (found) return (size_t)kb * 1024;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024;
}

double slm_time_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
