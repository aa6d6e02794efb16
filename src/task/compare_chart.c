/* compare_chart.c — the results of slm_compare_run as one SVG chart: score (with its 95% interval)
 * against examples/s at all threads on a log scale, each point's size growing with the model's
 * parameters, coloured by kind; candidates that did not run are listed below the plot. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "task/compare_internal.h"

#define WIDTH 820
#define HEIGHT 520
#define LEFT 80
#define RIGHT 40
#define TOP 60
#define BOTTOM 110
#define MAX_RADIUS 26.0
#define MIN_RADIUS 4.0

/* Writes s with &, <, > and " escaped. */
static void put_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '&') fputs("&amp;", f);
        else if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

static const char *kind_colour(const char *kind) {
    if (strncmp(kind, "fine-tuned", 10) == 0) return "#1f77b4";
    if (strncmp(kind, "zero-shot", 9) == 0) return "#ff7f0e";
    if (strncmp(kind, "few-shot", 8) == 0) return "#2ca02c";
    if (strcmp(kind, "embed") == 0) return "#9467bd";
    if (strcmp(kind, "auto") == 0) return "#8c564b";
    return "#7f7f7f";
}

/* Radius growing with the fourth root of the parameters, so that 1,000x more weights read as
 * about 5.6x wider: the largest model gets MAX_RADIUS. */
static double radius(int64_t params, int64_t max_params) {
    if (params <= 0 || max_params <= 0) return MIN_RADIUS;
    double r = MAX_RADIUS * pow((double)params / (double)max_params, 0.25);
    return r < MIN_RADIUS ? MIN_RADIUS : r;
}

static void params_text(int64_t p, char *buf, size_t cap) {
    if (p <= 0) snprintf(buf, cap, "no model");
    else if (p >= 1000000000) snprintf(buf, cap, "%.1fB", (double)p / 1e9);
    else if (p >= 1000000) snprintf(buf, cap, "%.1fM", (double)p / 1e6);
    else snprintf(buf, cap, "%.0fK", (double)p / 1e3);
}

/* The rate the chart plots: at 1 thread or at all threads. */
static double chart_rate(const slm_compare_params *p, const slm_compare_result *r) {
    return p->chart_one_thread ? r->rate_1 : r->rate_all;
}

slm_status slm_compare_write_svg(const char *path, const slm_compare_params *p, const slm_compare_result *results, size_t n) {
    if (!path || !p || (n && !results)) return slm_error(SLM_ERR_INVALID_ARG, "slm_compare_write_svg: NULL argument");
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    int64_t max_params = 0;
    size_t n_ok = 0;
    for (size_t i = 0; i < n; i++) {
        const slm_compare_result *r = &results[i];
        if (!r->ok || chart_rate(p, r) <= 0) continue;
        n_ok++;
        xmin = fmin(xmin, log10(chart_rate(p, r)));
        xmax = fmax(xmax, log10(chart_rate(p, r)));
        ymin = fmin(ymin, 100 * r->score_ci[0]);
        ymax = fmax(ymax, 100 * r->score_ci[1]);
        if (r->n_params > max_params) max_params = r->n_params;
    }
    if (!n_ok) xmin = 0, xmax = 1, ymin = 0, ymax = 100;
    xmin = floor(xmin - 0.15);
    xmax = ceil(xmax + 0.15);
    double ystep = ymax - ymin > 40 ? 10 : 5;
    ymin = fmax(0, floor((ymin - 2) / ystep) * ystep);
    ymax = fmin(100, ceil((ymax + 2) / ystep) * ystep);
    if (ymax <= ymin) ymax = ymin + ystep;
    const double pw = WIDTH - LEFT - RIGHT, ph = HEIGHT - TOP - BOTTOM;
#define X(v) (LEFT + ((v) - xmin) / (xmax - xmin) * pw)
#define Y(v) (TOP + (1 - ((v) - ymin) / (ymax - ymin)) * ph)
    FILE *f = fopen(path, "w");
    if (!f) return slm_error(SLM_ERR_IO, "%s: cannot write the chart", path);
    const int keywords = p->task == SLM_COMPARE_KEYWORDS;
    const char *score = keywords ? "F1@10 (%)" : "accuracy (%)";
    const char *unit = keywords ? "documents" : "examples";
    const int threads_all = p->chart_one_thread ? 1 : n ? results[0].threads_all : p->threads;
    int n_failed = 0;
    for (size_t i = 0; i < n; i++) n_failed += !results[i].ok;
    const int height = HEIGHT + 16 * n_failed + (int)MAX_RADIUS;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n",
            WIDTH, height, WIDTH, height);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"16\" font-weight=\"bold\">%s against %s/s (%d thread%s)</text>\n", LEFT,
            keywords ? "F1@10" : "Accuracy", unit, threads_all, threads_all == 1 ? "" : "s");
    const char *slash = strrchr(p->data_path, '/');
    fprintf(f, "<text x=\"%d\" y=\"42\" fill=\"#555\">", LEFT);
    put_escaped(f, slash ? slash + 1 : p->data_path);
    double load_lo = INFINITY, load_hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (results[i].load_before >= 0) load_lo = fmin(load_lo, fmin(results[i].load_before, results[i].load_after));
        load_hi = fmax(load_hi, fmax(results[i].load_before, results[i].load_after));
    }
    fprintf(f, " — bars: 95%% bootstrap intervals; point size: parameters");
    if (load_hi >= 0 && load_lo <= load_hi) fprintf(f, "; machine load %.1f-%.1f", load_lo, load_hi);
    fprintf(f, "</text>\n");
    /* grid and axes */
    for (double d = xmin; d <= xmax + 1e-9; d += 1) {
        double x = X(d);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x, TOP, x, TOP + ph);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", x, TOP + ph + 18, pow(10, d));
        for (int k = 2; k < 10 && d + 1 <= xmax + 1e-9; k++) {
            double xm = X(d + log10(k));
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n", xm, TOP + ph, xm, TOP + ph + 4);
        }
    }
    for (double v = ymin; v <= ymax + 1e-9; v += ystep) {
        double y = Y(v);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", LEFT, y, LEFT + pw, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", LEFT - 8, y + 4, v);
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n", LEFT, TOP, pw, ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s per second, %d thread%s (log scale)</text>\n", LEFT + pw / 2,
            TOP + ph + 40, unit, threads_all, threads_all == 1 ? "" : "s");
    fprintf(f, "<text transform=\"translate(22 %.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", TOP + ph / 2, score);
    /* points: biggest first so that small ones stay visible */
    int drawn[256] = {0};
    for (size_t pass = 0; pass < n_ok && pass < 256; pass++) {
        size_t best = n;
        for (size_t i = 0; i < n && i < 256; i++) {
            const slm_compare_result *r = &results[i];
            if (!r->ok || chart_rate(p, r) <= 0 || drawn[i]) continue;
            if (best == n || r->n_params > results[best].n_params) best = i;
        }
        if (best == n) break;
        drawn[best] = 1;
        const slm_compare_result *r = &results[best];
        double x = X(log10(chart_rate(p, r))), y = Y(100 * r->score), rad = radius(r->n_params, max_params);
        const char *colour = kind_colour(r->kind);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n", x,
                Y(100 * r->score_ci[0]), x, Y(100 * r->score_ci[1]), colour);
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" fill-opacity=\"0.45\" stroke=\"%s\"/>\n", x, y, rad,
                colour, colour);
        char ptxt[32];
        params_text(r->n_params, ptxt, sizeof ptxt);
        int right = x + rad + 160 < LEFT + pw;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", right ? x + rad + 5 : x - rad - 5, y - 2,
                right ? "start" : "end");
        put_escaped(f, r->name);
        fprintf(f, "</text>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"#555\" font-size=\"11\">", right ? x + rad + 5 : x - rad - 5,
                y + 12, right ? "start" : "end");
        put_escaped(f, r->kind);
        fprintf(f, ", %s, %.1f%%</text>\n", ptxt, 100 * r->score);
    }
    /* legend of kinds and the candidates that did not run */
    double ly = TOP + ph + 52 + MAX_RADIUS;
    const char *kinds[] = {"fine-tuned", "zero-shot", "few-shot", "stat", "embed", "auto"};
    double lx = LEFT;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        int used = 0;
        for (size_t i = 0; i < n; i++) used |= results[i].ok && strncmp(results[i].kind, kinds[k], strlen(kinds[k])) == 0;
        if (!used) continue;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"%s\" fill-opacity=\"0.45\" stroke=\"%s\"/>\n", lx + 6, ly - 4,
                kind_colour(kinds[k]), kind_colour(kinds[k]));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", lx + 16, ly, kinds[k]);
        lx += 110;
    }
    /* reference sizes: powers of ten up to the largest model */
    if (max_params > 0) {
        double p10 = pow(10, floor(log10((double)max_params)));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#555\">parameters:</text>\n", lx + 10, ly);
        lx += 90;
        for (int k = 2; k >= 0; k--) {
            double ref = p10 / pow(10, 2 * k);
            if (ref < 1e4) continue;
            double rad = radius((int64_t)ref, max_params);
            char txt[32];
            params_text((int64_t)ref, txt, sizeof txt);
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"none\" stroke=\"#555\"/>\n", lx + rad, ly - 4, rad);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#555\">%s</text>\n", lx + 2 * rad + 4, ly, txt);
            lx += 2 * rad + 60;
        }
    }
    ly += 2 * MAX_RADIUS > 20 ? MAX_RADIUS + 10 : 20;
    for (size_t i = 0; i < n; i++) {
        if (results[i].ok) continue;
        char msg[160];
        snprintf(msg, sizeof msg, "not run: %s: %s", results[i].name, results[i].error);
        if (strlen(msg) >= sizeof msg - 1) { /* cut at a character boundary */
            size_t cut = sizeof msg - 4;
            while (cut > 0 && ((unsigned char)msg[cut] & 0xC0) == 0x80) cut--;
            memcpy(msg + cut, "...", 4);
        }
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" fill=\"#a00\">", LEFT, ly);
        put_escaped(f, msg);
        fprintf(f, "</text>\n");
        ly += 16;
    }
#undef X
#undef Y
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0) return slm_error(SLM_ERR_IO, "%s: cannot write the chart", path);
    return SLM_OK;
}
