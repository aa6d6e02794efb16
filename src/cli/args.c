/* args.c — command-line parsing for the slm subcommands. */
#include "cli/args.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void args_print_help(const char *usage, const opt_spec *specs, int n_specs) {
    printf("%s\n\noptions:\n", usage);
    for (int i = 0; i < n_specs; i++) {
        char names[64];
        const char *arg = specs[i].kind == OPT_FLAG                                    ? ""
                          : specs[i].kind == OPT_STRING || specs[i].kind == OPT_LIST ? " S"
                                                                                       : " N";
        snprintf(names, sizeof names, "%s%s%s%s", specs[i].short_name ? specs[i].short_name : "",
                 specs[i].short_name ? ", " : "    ", specs[i].long_name, arg);
        printf("  %-28s %s\n", names, specs[i].help);
    }
    printf("  %-28s %s\n", "-h, --help", "show this help");
}

static int set_value(const opt_spec *o, const char *name, const char *v) {
    char *end;
    errno = 0;
    switch (o->kind) {
    case OPT_STRING: *(const char **)o->target = v; return 0;
    case OPT_LIST: {
        args_list *l = o->target;
        if (l->n >= ARGS_LIST_MAX) {
            fprintf(stderr, "error: %s: at most %d values\n", name, ARGS_LIST_MAX);
            return 2;
        }
        l->items[l->n++] = v;
        return 0;
    }
    case OPT_INT: {
        long x = strtol(v, &end, 10);
        if (errno || *end || end == v || x < INT32_MIN || x > INT32_MAX) break;
        *(int *)o->target = (int)x;
        return 0;
    }
    case OPT_FLOAT: {
        float x = strtof(v, &end);
        if (errno || *end || end == v) break;
        *(float *)o->target = x;
        return 0;
    }
    case OPT_U64: {
        if (v[0] == '-') break;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || *end || end == v) break;
        *(uint64_t *)o->target = x;
        return 0;
    }
    case OPT_FLAG: break;
    }
    fprintf(stderr, "error: %s: '%s' is not a valid %s\n", name, v,
            o->kind == OPT_FLOAT ? "number" : "integer");
    return 2;
}

int args_parse(int argc, char **argv, const opt_spec *specs, int n_specs, const char **pos, int max_pos,
               int *n_pos, const char *usage) {
    *n_pos = 0;
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if (*n_pos >= max_pos) {
                fprintf(stderr, "error: unexpected argument '%s' (see --help)\n", a);
                return 2;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            args_print_help(usage, specs, n_specs);
            return 1;
        }
        const char *eq = strchr(a, '=');
        size_t name_len = eq && a[1] == '-' ? (size_t)(eq - a) : strlen(a);
        const opt_spec *o = NULL;
        for (int k = 0; k < n_specs && !o; k++) {
            const char *names[2] = {specs[k].short_name, specs[k].long_name};
            for (int j = 0; j < 2; j++)
                if (names[j] && strlen(names[j]) == name_len && strncmp(names[j], a, name_len) == 0) o = &specs[k];
        }
        if (!o) {
            fprintf(stderr, "error: unknown option '%.*s' (see --help)\n", (int)name_len, a);
            return 2;
        }
        if (o->kind == OPT_FLAG) {
            if (eq && a[1] == '-') {
                fprintf(stderr, "error: %s takes no value\n", o->long_name);
                return 2;
            }
            *(int *)o->target = 1;
            continue;
        }
        const char *v = eq && a[1] == '-' ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "error: %s needs a value (see --help)\n", o->long_name);
            return 2;
        }
        int rc = set_value(o, o->long_name, v);
        if (rc) return rc;
    }
    return 0;
}

int args_sampling_specs(opt_spec *specs, slm_sampling_params *sp) {
    const opt_spec sampling[ARGS_N_SAMPLING] = {
        {NULL, "--temp", OPT_FLOAT, &sp->temperature, "temperature (default 0.8; 0 = greedy)"},
        {NULL, "--top-k", OPT_INT, &sp->top_k, "keep the k most likely tokens (default 40; 0 = off)"},
        {NULL, "--top-p", OPT_FLOAT, &sp->top_p, "nucleus sampling threshold (default 0.95; 1 = off)"},
        {NULL, "--min-p", OPT_FLOAT, &sp->min_p, "drop tokens below min-p x the top probability (default 0.05)"},
        {NULL, "--repeat-penalty", OPT_FLOAT, &sp->repeat_penalty, "penalty for recent tokens (default 1.0 = off)"},
        {NULL, "--repeat-last-n", OPT_INT, &sp->repeat_last_n, "how many recent tokens are penalised (default 64)"},
        {NULL, "--seed", OPT_U64, &sp->seed, "random seed (default 24301)"},
    };
    for (int i = 0; i < ARGS_N_SAMPLING; i++) specs[i] = sampling[i];
    return ARGS_N_SAMPLING;
}
