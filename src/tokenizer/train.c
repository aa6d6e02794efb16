/* train.c — tokenizer training's public entry points and its first pass: text files (or a buffer)
 * are read in blocks, each block is cut at line ends into one range per thread, and each thread
 * splits its range at special tokens and into words (GPT-2's regex, or SentencePiece-style
 * words) counted in its own hash table; the tables are merged and sorted at the end. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/threadpool.h"
#include "base/utf8.h"
#include "tokenizer/textbuf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/train.h"

#define BLOCK_PER_THREAD (4u << 20) /* bytes of text each thread counts per block */
#define SPACE_MARK "\xE2\x96\x81"    /* U+2581, SentencePiece's visible space */
#define REPLACEMENT "\xEF\xBF\xBD"   /* U+FFFD */

/* ---------------------------------------------------------------- word tables */

typedef struct {
    uint64_t hash;
    size_t off; /* into word_table.bytes */
    uint32_t len;
    int64_t count; /* 0: empty slot */
} word_slot;

struct word_table {
    char *bytes;
    size_t n_bytes, cap_bytes;
    word_slot *slots;
    size_t n_slots, n_used; /* n_slots a power of two */
};

static uint64_t hash_bytes64(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static bool table_grow(word_table *t) {
    size_t n = t->n_slots ? t->n_slots * 2 : 4096;
    word_slot *slots = calloc(n, sizeof *slots);
    if (!slots) return false;
    for (size_t i = 0; i < t->n_slots; i++) {
        if (!t->slots[i].count) continue;
        size_t j = t->slots[i].hash & (n - 1);
        while (slots[j].count) j = (j + 1) & (n - 1);
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n;
    return true;
}

/* Adds count occurrences of the word s (n bytes) whose hash is h. */
static bool table_add(word_table *t, const char *s, uint32_t n, uint64_t h, int64_t count) {
    if ((t->n_used + 1) * 2 > t->n_slots && !table_grow(t)) return false;
    size_t mask = t->n_slots - 1, i = h & mask;
    for (; t->slots[i].count; i = (i + 1) & mask) {
        word_slot *w = &t->slots[i];
        if (w->hash == h && w->len == n && memcmp(t->bytes + w->off, s, n) == 0) {
            w->count += count;
            return true;
        }
    }
    if (t->n_bytes + n > t->cap_bytes) {
        size_t cap = t->cap_bytes ? t->cap_bytes * 2 : 1 << 16;
        while (cap < t->n_bytes + n) cap *= 2;
        char *b = realloc(t->bytes, cap);
        if (!b) return false;
        t->bytes = b;
        t->cap_bytes = cap;
    }
    if (n) memcpy(t->bytes + t->n_bytes, s, n);
    t->slots[i] = (word_slot){h, t->n_bytes, n, count};
    t->n_bytes += n;
    t->n_used++;
    return true;
}

static void table_free(word_table *t) {
    if (!t) return;
    free(t->bytes);
    free(t->slots);
}

/* ---------------------------------------------------------------- cutting the text */

typedef struct {
    train_split split;
    const char *const *specials;
    uint32_t *special_len;   /* (n_specials,) */
    int n_specials;
    uint32_t max_special;    /* longest special token */
    bool special_first[256]; /* bytes a special token starts with */
    pcre2_code *re;          /* SPLIT_GPT2 */
} splitter;

/* The longest special token that starts at text[pos] (n bytes in all), or -1. */
static int special_at(const splitter *sp, const char *text, size_t pos, size_t n) {
    if (!sp->special_first[(uint8_t)text[pos]]) return -1;
    int best = -1;
    for (int k = 0; k < sp->n_specials; k++) {
        uint32_t len = sp->special_len[k];
        if (len <= n - pos && memcmp(text + pos, sp->specials[k], len) == 0 &&
            (best < 0 || len > sp->special_len[best]))
            best = k;
    }
    return best;
}

/* Whether a block can be cut before text[c] (0 < c < n) without changing any word: c follows a
 * newline; no special token spans c, and none may start at c with only part of it in the
 * buffer (one that starts there whole is fine); and for GPT-2's regex text[c] is printable
 * ASCII, so no match runs over the cut and the one character of lookahead the regex needs
 * (\s+(?!\S)) is text[c]. */
static bool safe_cut(const splitter *sp, const char *text, size_t c, size_t n) {
    if (text[c - 1] != '\n') return false;
    if (sp->split == SPLIT_GPT2 && !(text[c] >= 0x21 && text[c] <= 0x7E)) return false;
    for (int k = 0; k < sp->n_specials; k++) {
        uint32_t len = sp->special_len[k];
        for (size_t s = c >= len ? c - len + 1 : 0; s <= c; s++) {
            size_t avail = n - s < len ? n - s : len;
            if ((s < c || avail < len) && memcmp(text + s, sp->specials[k], avail) == 0) return false;
        }
    }
    return true;
}

/* The first safe cut at or after `from` and before n, or n if none. */
static size_t next_cut(const splitter *sp, const char *text, size_t from, size_t n) {
    size_t c = from < 1 ? 1 : from;
    while (c < n) {
        if (text[c - 1] == '\n' && safe_cut(sp, text, c, n)) return c;
        const char *nl = memchr(text + c, '\n', n - c);
        if (!nl) break;
        c = (size_t)(nl - text) + 1;
    }
    return n;
}

/* The last safe cut before n, or 0 if none. */
static size_t last_cut(const splitter *sp, const char *text, size_t n) {
    for (size_t c = n - 1; c > 0; c--)
        if (text[c - 1] == '\n' && safe_cut(sp, text, c, n)) return c;
    return 0;
}

/* ---------------------------------------------------------------- counting one range */

typedef struct {
    word_table table;
    pcre2_match_data *md;
    byte_buf scratch;
    slm_status status;
    char message[200];
} counter;

static bool count_word(counter *c, const char *s, size_t n) {
    if (n > UINT32_MAX) return true; /* not a word anyone can use */
    return table_add(&c->table, s, (uint32_t)n, hash_bytes64(s, n), 1);
}

/* Words of one stretch of text by GPT-2's regex: n bytes, plus `ahead` (0 or 1) bytes of printable
 * ASCII after it that the regex may look at but no match takes. Invalid UTF-8 bytes become
 * U+FFFD first, as the encoder does. */
static bool count_gpt2(const splitter *sp, counter *c, const char *s, size_t n, size_t ahead) {
    size_t i = 0;
    while (i < n) {
        size_t cl = slm_utf8_valid_len(s + i, n - i);
        if (!cl) break;
        i += cl;
    }
    if (i < n) { /* rewrite into the scratch buffer */
        c->scratch.n = 0;
        bool ok = buf_put(&c->scratch, s, i);
        while (ok && i < n) {
            size_t cl = slm_utf8_valid_len(s + i, n - i);
            ok = cl ? buf_put(&c->scratch, s + i, cl) : buf_put(&c->scratch, REPLACEMENT, 3);
            i += cl ? cl : 1;
        }
        n = c->scratch.n;
        if (!ok || !buf_put(&c->scratch, s + i, ahead)) return false;
        s = c->scratch.s;
    }
    size_t pos = 0;
    while (pos < n) {
        uint32_t opts = PCRE2_NO_UTF_CHECK | PCRE2_NOTEMPTY;
        int rc = pcre2_match(sp->re, (PCRE2_SPTR)s, n + ahead, pos, opts, c->md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(sp->re, (PCRE2_SPTR)s, n + ahead, pos, opts | PCRE2_NO_JIT, c->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(rc, msg, sizeof msg);
            c->status = rc == PCRE2_ERROR_NOMEMORY ? SLM_ERR_NOMEM : SLM_ERR_UNSUPPORTED;
            snprintf(c->message, sizeof c->message, "tokenizer training: pre-tokenizer regex failed: %s", (const char *)msg);
            return false;
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t start = ov[0] < n ? ov[0] : n, end = ov[1] < n ? ov[1] : n;
        if (start > pos && !count_word(c, s + pos, start - pos)) return false; /* a gap between matches */
        if (end > start && !count_word(c, s + start, end - start)) return false;
        pos = end > pos ? end : pos + 1;
    }
    if (pos < n && !count_word(c, s + pos, n - pos)) return false;
    return true;
}

/* SentencePiece-style words of one stretch of a line: "▁" and a run of non-space bytes each;
 * the stretch starts a line or follows a special token, so it gets the "▁" of a dummy prefix. */
static bool count_spm(counter *c, const char *s, size_t n) {
    for (size_t start = 0; start <= n;) {
        const char *sp = memchr(s + start, ' ', n - start);
        size_t end = sp ? (size_t)(sp - s) : n;
        c->scratch.n = 0;
        if (!buf_put(&c->scratch, SPACE_MARK, 3) || !buf_put(&c->scratch, s + start, end - start) ||
            !count_word(c, c->scratch.s, c->scratch.n))
            return false;
        start = end + 1;
    }
    return true;
}

/* SentencePiece-style words of a stretch between special tokens, line by line. */
static bool count_spm_lines(counter *c, const char *s, size_t n) {
    for (size_t start = 0; start < n;) {
        const char *nl = memchr(s + start, '\n', n - start);
        size_t end = nl ? (size_t)(nl - s) : n;
        if (end > start && !count_spm(c, s + start, end - start)) return false;
        start = end + 1;
    }
    return true;
}

/* Counts the words of text[lo, hi), the stretches between special tokens. n is the end of the
 * buffer (GPT-2's regex may look one byte past hi). */
static bool count_range(const splitter *sp, counter *c, const char *text, size_t lo, size_t hi, size_t n) {
    size_t pos = lo;
    while (pos < hi) {
        size_t q = pos;
        int k = -1;
        for (; q < hi; q++)
            if (sp->n_specials && (k = special_at(sp, text, q, hi)) >= 0) break;
        bool ok = true;
        if (sp->split == SPLIT_GPT2) {
            size_t ahead = (q == hi && hi < n && special_at(sp, text, hi, n) < 0) ? 1 : 0;
            if (q > pos) ok = count_gpt2(sp, c, text + pos, q - pos, ahead);
        } else ok = count_spm_lines(c, text + pos, q - pos);
        if (!ok) return false;
        pos = k >= 0 ? q + sp->special_len[k] : hi;
    }
    return true;
}

typedef struct {
    const splitter *sp;
    const char *text;
    size_t n;
    size_t *cuts;       /* (nth + 1,) thread ith counts text[cuts[ith], cuts[ith + 1]) */
    counter *counters;  /* (nth,) */
    int nth;
} count_job;

static void count_worker(void *ctx, int ith, int nth) {
    (void)nth;
    count_job *job = ctx;
    if (ith >= job->nth) return;
    counter *c = &job->counters[ith];
    if (c->status != SLM_OK) return;
    if (!count_range(job->sp, c, job->text, job->cuts[ith], job->cuts[ith + 1], job->n) && c->status == SLM_OK) {
        c->status = SLM_ERR_NOMEM;
        snprintf(c->message, sizeof c->message, "tokenizer training: out of memory counting words");
    }
}

/* ---------------------------------------------------------------- reading */

typedef struct {
    FILE *f;
    const char *mem;
    size_t mem_len, mem_pos;
    const char *name;
} reader;

/* Reads up to cap bytes; *got is 0 at the end. */
static slm_status reader_read(reader *r, char *buf, size_t cap, size_t *got) {
    if (!r->f) {
        size_t n = r->mem_len - r->mem_pos < cap ? r->mem_len - r->mem_pos : cap;
        memcpy(buf, r->mem + r->mem_pos, n);
        r->mem_pos += n;
        *got = n;
        return SLM_OK;
    }
    *got = fread(buf, 1, cap, r->f);
    if (*got == 0 && ferror(r->f)) return slm_error(SLM_ERR_IO, "%s: read error", r->name);
    return SLM_OK;
}

typedef struct {
    const splitter *sp;
    counter *counters;
    int nth;
    char *buf;
    size_t cap;
    uint64_t done, total;
    const slm_tokenizer_train_params *p;
} count_state;

/* Counts one file or buffer, block by block. */
static slm_status count_source(count_state *cs, reader *r) {
    size_t n = 0;
    bool eof = false;
    while (!eof || n > 0) {
        while (!eof && n < cs->cap) {
            size_t got;
            slm_status st = reader_read(r, cs->buf + n, cs->cap - n, &got);
            if (st != SLM_OK) return st;
            if (got == 0) eof = true;
            n += got;
        }
        size_t end = eof ? n : last_cut(cs->sp, cs->buf, n);
        if (end == 0) { /* no line end to cut at: read on into a larger buffer */
            char *b = realloc(cs->buf, cs->cap * 2);
            if (!b) return slm_error(SLM_ERR_NOMEM, "%s: out of memory (%zu bytes without a line end)", r->name, n);
            cs->buf = b;
            cs->cap *= 2;
            continue;
        }
        size_t cuts[257];
        cuts[0] = 0;
        for (int t = 1; t < cs->nth; t++) {
            size_t target = (size_t)((double)end * t / cs->nth);
            size_t c = target <= cuts[t - 1] ? cuts[t - 1] : next_cut(cs->sp, cs->buf, target, end);
            cuts[t] = c > end ? end : c;
        }
        cuts[cs->nth] = end;
        count_job job = {cs->sp, cs->buf, n, cuts, cs->counters, cs->nth};
        slm_pool_run(count_worker, &job);
        for (int t = 0; t < cs->nth; t++)
            if (cs->counters[t].status != SLM_OK) return slm_error(cs->counters[t].status, "%s", cs->counters[t].message);
        memmove(cs->buf, cs->buf + end, n - end);
        n -= end;
        cs->done += end;
        if (cs->p->progress) cs->p->progress("counting", (double)cs->done, (double)cs->total, cs->p->progress_user);
    }
    return SLM_OK;
}

static int word_order(const void *a, const void *b) {
    const train_word *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->text, y->text, n);
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

slm_status train_count_words(const train_source *src, train_split split, const slm_tokenizer_train_params *p,
                             train_corpus *out) {
    memset(out, 0, sizeof *out);
    splitter sp = {.split = split, .specials = p->specials, .n_specials = p->n_specials};
    int nth = slm_pool_threads();
    if (nth > 256) nth = 256;
    count_state cs = {.sp = &sp, .nth = nth, .p = p};
    slm_status st = SLM_OK;
    sp.special_len = slm_calloc((size_t)p->n_specials + 1, sizeof *sp.special_len, "special tokens");
    cs.counters = slm_calloc((size_t)nth, sizeof *cs.counters, "word counters");
    cs.cap = (size_t)nth * (src->block ? src->block : BLOCK_PER_THREAD);
    cs.buf = slm_malloc(cs.cap, "text buffer");
    if (!sp.special_len || !cs.counters || !cs.buf) st = SLM_ERR_NOMEM;
    for (int k = 0; st == SLM_OK && k < p->n_specials; k++) {
        sp.special_len[k] = (uint32_t)strlen(p->specials[k]);
        sp.special_first[(uint8_t)p->specials[k][0]] = true;
        if (sp.special_len[k] > sp.max_special) sp.max_special = sp.special_len[k];
    }
    if (st == SLM_OK && split == SPLIT_GPT2) {
        int err;
        PCRE2_SIZE at;
        sp.re = pcre2_compile((PCRE2_SPTR)BPE_GPT2_PATTERN, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &at, NULL);
        if (!sp.re) st = slm_error(SLM_ERR_UNSUPPORTED, "tokenizer training: GPT-2's regex does not compile");
        else pcre2_jit_compile(sp.re, PCRE2_JIT_COMPLETE);
        for (int t = 0; st == SLM_OK && t < nth; t++)
            if (!(cs.counters[t].md = pcre2_match_data_create(1, NULL))) st = SLM_ERR_NOMEM;
    }
    /* sizes, for progress */
    if (src->paths) {
        for (size_t i = 0; i < src->n_paths; i++) {
            struct stat sb;
            if (stat(src->paths[i], &sb) == 0) cs.total += (uint64_t)sb.st_size;
        }
    } else cs.total = src->len;
    size_t n_sources = src->paths ? src->n_paths : 1;
    for (size_t i = 0; st == SLM_OK && i < n_sources; i++) {
        reader r = {.mem = src->text, .mem_len = src->len, .name = "text"};
        if (src->paths) {
            r.name = src->paths[i];
            if (!(r.f = fopen(r.name, "rb"))) {
                st = slm_error(SLM_ERR_IO, "%s: cannot open", r.name);
                break;
            }
        }
        st = count_source(&cs, &r);
        if (r.f) fclose(r.f);
    }
    /* merge the tables into the first and sort its words */
    word_table *t0 = NULL;
    if (st == SLM_OK) {
        t0 = slm_calloc(1, sizeof *t0, "word table");
        if (!t0) st = SLM_ERR_NOMEM;
        else {
            *t0 = cs.counters[0].table;
            memset(&cs.counters[0].table, 0, sizeof cs.counters[0].table);
        }
    }
    for (int t = 1; st == SLM_OK && t < nth; t++) {
        const word_table *ti = &cs.counters[t].table;
        for (size_t i = 0; i < ti->n_slots && st == SLM_OK; i++) {
            const word_slot *w = &ti->slots[i];
            if (w->count && !table_add(t0, ti->bytes + w->off, w->len, w->hash, w->count)) st = SLM_ERR_NOMEM;
        }
        table_free(&cs.counters[t].table);
        memset(&cs.counters[t].table, 0, sizeof cs.counters[t].table);
    }
    if (st == SLM_OK) {
        out->words = slm_malloc((t0->n_used + 1) * sizeof *out->words, "word list");
        if (!out->words) st = SLM_ERR_NOMEM;
    }
    if (st == SLM_OK) {
        for (size_t i = 0; i < t0->n_slots; i++)
            if (t0->slots[i].count)
                out->words[out->n_words++] = (train_word){t0->bytes + t0->slots[i].off, t0->slots[i].len, t0->slots[i].count};
        qsort(out->words, out->n_words, sizeof *out->words, word_order);
        out->table = t0;
        out->n_bytes = cs.done;
        t0 = NULL;
    }
    if (t0) {
        table_free(t0);
        free(t0);
    }
    for (int t = 0; cs.counters && t < nth; t++) {
        table_free(&cs.counters[t].table);
        pcre2_match_data_free(cs.counters[t].md);
        free(cs.counters[t].scratch.s);
    }
    free(cs.counters);
    free(cs.buf);
    free(sp.special_len);
    pcre2_code_free(sp.re);
    if (st != SLM_OK) {
        train_corpus_free(out);
        if (st == SLM_ERR_NOMEM) return slm_error(st, "tokenizer training: out of memory while counting words");
    }
    return st;
}

void train_corpus_free(train_corpus *c) {
    free(c->words);
    if (c->table) {
        table_free(c->table);
        free(c->table);
    }
    memset(c, 0, sizeof *c);
}

/* ---------------------------------------------------------------- the public API */

slm_tokenizer_train_params slm_tokenizer_train_defaults(void) {
    return (slm_tokenizer_train_params){.type = SLM_TOKENIZER_BPE, .vocab_size = 32000, .character_coverage = 0.9995};
}

static slm_status check_params(const slm_tokenizer_train_params *p) {
    if (p->type != SLM_TOKENIZER_BPE && p->type != SLM_TOKENIZER_SPM)
        return slm_error(SLM_ERR_INVALID_ARG, "tokenizer training: unknown type %d", (int)p->type);
    if (p->n_specials < 0 || (p->n_specials > 0 && !p->specials))
        return slm_error(SLM_ERR_INVALID_ARG, "tokenizer training: bad special token list");
    for (int k = 0; k < p->n_specials; k++) {
        if (!p->specials[k] || !p->specials[k][0])
            return slm_error(SLM_ERR_INVALID_ARG, "tokenizer training: special token %d is empty", k);
        if (strlen(p->specials[k]) > 65535)
            return slm_error(SLM_ERR_INVALID_ARG, "tokenizer training: special token %d is too long", k);
        for (int j = 0; j < k; j++)
            if (strcmp(p->specials[j], p->specials[k]) == 0)
                return slm_error(SLM_ERR_INVALID_ARG, "tokenizer training: special token '%s' is given twice", p->specials[k]);
    }
    int fixed = p->type == SLM_TOKENIZER_BPE ? 256 + p->n_specials : 3 + 256 + p->n_specials + 1;
    if (p->vocab_size < fixed || p->vocab_size > (1 << 24))
        return slm_error(SLM_ERR_INVALID_ARG,
                         "tokenizer training: vocabulary size %d is out of range (%s needs at least %d%s; at most 16M)",
                         p->vocab_size, p->type == SLM_TOKENIZER_BPE ? "byte-level BPE" : "SentencePiece-style BPE", fixed,
                         p->type == SLM_TOKENIZER_BPE ? ": 256 bytes and the special tokens"
                                                       : ": <unk> <s> </s>, 256 bytes, the special tokens, a character");
    if (p->type == SLM_TOKENIZER_SPM && !(p->character_coverage > 0 && p->character_coverage <= 1))
        return slm_error(SLM_ERR_INVALID_ARG, "tokenizer training: character coverage %g is not in (0, 1]", p->character_coverage);
    return SLM_OK;
}

static slm_status train_from(const train_source *src, const slm_tokenizer_train_params *params, slm_tokenizer **out,
                             slm_tokenizer_train_stats *stats) {
    if (!out) return slm_error(SLM_ERR_INVALID_ARG, "slm_tokenizer_train: NULL argument");
    *out = NULL;
    slm_tokenizer_train_params p = params ? *params : slm_tokenizer_train_defaults();
    slm_tokenizer_train_stats local = {0};
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    slm_status st = check_params(&p);
    if (st != SLM_OK) return st;
    double t0 = slm_time_seconds();
    train_corpus corpus;
    st = train_count_words(src, p.type == SLM_TOKENIZER_BPE ? SPLIT_GPT2 : SPLIT_SPM, &p, &corpus);
    if (st != SLM_OK) return st;
    stats->n_bytes = corpus.n_bytes;
    stats->n_words = corpus.n_words;
    stats->count_seconds = slm_time_seconds() - t0;
    t0 = slm_time_seconds();
    st = p.type == SLM_TOKENIZER_BPE ? bpe_train(&corpus, &p, out, stats) : spm_train(&corpus, &p, out, stats);
    stats->merge_seconds = slm_time_seconds() - t0;
    train_corpus_free(&corpus);
    return st;
}

slm_status slm_tokenizer_train(const char *const *paths, size_t n_paths, const slm_tokenizer_train_params *params,
                               slm_tokenizer **out, slm_tokenizer_train_stats *stats) {
    if (!paths || n_paths == 0) return slm_error(SLM_ERR_INVALID_ARG, "slm_tokenizer_train: no files");
    for (size_t i = 0; i < n_paths; i++)
        if (!paths[i]) return slm_error(SLM_ERR_INVALID_ARG, "slm_tokenizer_train: NULL path");
    train_source src = {.paths = paths, .n_paths = n_paths};
    return train_from(&src, params, out, stats);
}

slm_status slm_tokenizer_train_text(const char *text, size_t len, const slm_tokenizer_train_params *params,
                                    slm_tokenizer **out, slm_tokenizer_train_stats *stats) {
    if (!text && len) return slm_error(SLM_ERR_INVALID_ARG, "slm_tokenizer_train_text: NULL text");
    train_source src = {.text = text ? text : "", .len = len};
    return train_from(&src, params, out, stats);
}
