/* merge_train.c — the BPE merge engine shared by both trainers: pair counts over distinct words
 * with their occurrence lists, updated in place around each merge (only the words that hold the
 * merged pair are touched), and a max-heap of (count, pair) whose stale entries are dropped when
 * they surface. See train.h for the rules (counting, tie-break, reused symbols). */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "tokenizer/train.h"

typedef struct {
    size_t off;     /* first symbol in merger.syms */
    uint32_t len;   /* symbols now (shrinks as pairs merge) */
    uint32_t stamp; /* the step that last visited the word */
    int64_t count;
} word_rec;

typedef struct {
    int32_t a, b;
    int64_t count;     /* occurrences now */
    int64_t before;    /* count when the current step first touched the pair */
    int64_t head;      /* occurrence list: index into merger.occ, -1 when empty */
    uint32_t last_word; /* word last appended to the list, plus one (0: none) */
    uint32_t stamp;    /* the step that last touched the pair */
} pair_rec;

/* A word that held the pair when it was linked (it may not any more). */
typedef struct {
    uint32_t word;
    int64_t next;
} occ_node;

typedef struct {
    int64_t count;
    int32_t a, b;
} heap_entry;

struct merger {
    /* symbols: bytes in one buffer, a hash of bytes -> id over the mergeable ones */
    char *text;
    size_t text_n, text_cap;
    size_t *text_off;        /* (n_sym,) */
    uint32_t *text_len;      /* (n_sym,) */
    uint32_t *text_chars;    /* (n_sym,) UTF-8 characters (bytes that are no continuation byte) */
    size_t off_cap, len_cap, chars_cap;
    uint32_t max_chars;      /* pairs longer than this never count (0: no limit) */
    int32_t n_sym;
    int32_t *sym_slots;      /* (n_sym_slots,) id or -1 */
    uint32_t n_sym_slots;
    /* words */
    int32_t *syms;           /* (n_syms,) the symbols of all words, back to back */
    size_t n_syms, syms_cap;
    word_rec *words;
    size_t n_words, words_cap;
    /* pairs: records, open addressing (index + 1, 0 empty), occurrence lists */
    pair_rec *pairs;
    size_t n_pairs, pairs_cap;
    uint32_t *pair_slots;
    size_t n_pair_slots;     /* power of two */
    occ_node *occ;
    size_t n_occ, occ_cap;
    /* the heap and the pairs the current step touched */
    heap_entry *heap;
    size_t n_heap, heap_cap;
    uint32_t *touched;
    size_t n_touched, touched_cap;
    uint32_t stamp;
    bool started;
};

/* Grows *arr (of elem-byte items, capacity *cap) to hold at least n items. */
static bool reserve(void **arr, size_t *cap, size_t n, size_t elem) {
    if (n <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < n) c *= 2;
    void *p = realloc(*arr, c * elem);
    if (!p) return false;
    *arr = p;
    *cap = c;
    return true;
}

static uint64_t hash_text(const char *s, uint32_t n) {
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t hash_pair(int32_t a, int32_t b) {
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

/* ---------------------------------------------------------------- symbols */

static int32_t sym_find(const merger *m, const char *s, uint32_t n) {
    uint32_t mask = m->n_sym_slots - 1;
    for (uint32_t i = (uint32_t)hash_text(s, n) & mask;; i = (i + 1) & mask) {
        int32_t id = m->sym_slots[i];
        if (id < 0) return -1;
        if (m->text_len[id] == n && memcmp(m->text + m->text_off[id], s, n) == 0) return id;
    }
}

static void sym_slot_insert(merger *m, int32_t id) {
    uint32_t mask = m->n_sym_slots - 1;
    uint32_t i = (uint32_t)hash_text(m->text + m->text_off[id], m->text_len[id]) & mask;
    while (m->sym_slots[i] >= 0) i = (i + 1) & mask;
    m->sym_slots[i] = id;
}

/* Appends a symbol with the bytes a then b (neither may point into m->text); returns its id,
 * or -1 when out of memory. */
static int32_t sym_add(merger *m, const char *a, uint32_t na, const char *b, uint32_t nb) {
    if (m->n_sym == INT32_MAX || (uint64_t)na + nb > UINT32_MAX) return -1;
    if (!reserve((void **)&m->text, &m->text_cap, m->text_n + na + nb, 1) ||
        !reserve((void **)&m->text_off, &m->off_cap, (size_t)m->n_sym + 1, sizeof(size_t)) ||
        !reserve((void **)&m->text_len, &m->len_cap, (size_t)m->n_sym + 1, sizeof(uint32_t)) ||
        !reserve((void **)&m->text_chars, &m->chars_cap, (size_t)m->n_sym + 1, sizeof(uint32_t)))
        return -1;
    int32_t id = m->n_sym++;
    m->text_off[id] = m->text_n;
    m->text_len[id] = na + nb;
    uint32_t chars = 0;
    for (uint32_t i = 0; i < na; i++) chars += ((uint8_t)a[i] & 0xC0) != 0x80;
    for (uint32_t i = 0; i < nb; i++) chars += ((uint8_t)b[i] & 0xC0) != 0x80;
    m->text_chars[id] = chars;
    if (na) memcpy(m->text + m->text_n, a, na);
    if (nb) memcpy(m->text + m->text_n + na, b, nb);
    m->text_n += na + nb;
    if (na + nb == 0) return id; /* unmergeable: not in the hash */
    if ((uint64_t)(m->n_sym + 1) * 2 > m->n_sym_slots) {
        uint32_t n = m->n_sym_slots ? m->n_sym_slots * 2 : 1024;
        int32_t *slots = slm_malloc((size_t)n * sizeof *slots, "BPE training symbols");
        if (!slots) return -1;
        memset(slots, 0xFF, (size_t)n * sizeof *slots);
        free(m->sym_slots);
        m->sym_slots = slots;
        m->n_sym_slots = n;
        for (int32_t i = 0; i < m->n_sym; i++)
            if (m->text_len[i]) sym_slot_insert(m, i);
    } else sym_slot_insert(m, id);
    return id;
}

/* Bytewise order, a prefix before its extensions (as Python compares bytes). */
static int cmp_sym(const merger *m, int32_t x, int32_t y) {
    if (x == y) return 0;
    uint32_t nx = m->text_len[x], ny = m->text_len[y];
    int c = memcmp(m->text + m->text_off[x], m->text + m->text_off[y], nx < ny ? nx : ny);
    if (c) return c;
    return (nx > ny) - (nx < ny);
}

/* ---------------------------------------------------------------- pairs */

static pair_rec *pair_find(const merger *m, int32_t a, int32_t b) {
    if (!m->n_pair_slots) return NULL;
    size_t mask = m->n_pair_slots - 1;
    for (size_t i = hash_pair(a, b) & mask;; i = (i + 1) & mask) {
        uint32_t s = m->pair_slots[i];
        if (s == 0) return NULL;
        pair_rec *p = &m->pairs[s - 1];
        if (p->a == a && p->b == b) return p;
    }
}

static bool pair_slots_grow(merger *m) {
    size_t n = m->n_pair_slots ? m->n_pair_slots * 2 : 4096;
    uint32_t *slots = slm_calloc(n, sizeof *slots, "BPE training pairs");
    if (!slots) return false;
    for (size_t k = 0; k < m->n_pairs; k++) {
        size_t i = hash_pair(m->pairs[k].a, m->pairs[k].b) & (n - 1);
        while (slots[i]) i = (i + 1) & (n - 1);
        slots[i] = (uint32_t)(k + 1);
    }
    free(m->pair_slots);
    m->pair_slots = slots;
    m->n_pair_slots = n;
    return true;
}

/* The record of pair (a, b), made with count 0 if new; NULL when out of memory. */
static pair_rec *pair_get(merger *m, int32_t a, int32_t b) {
    pair_rec *p = pair_find(m, a, b);
    if (p) return p;
    if (m->n_pairs >= UINT32_MAX - 1) return NULL;
    if ((m->n_pairs + 1) * 2 > m->n_pair_slots && !pair_slots_grow(m)) return NULL;
    if (!reserve((void **)&m->pairs, &m->pairs_cap, m->n_pairs + 1, sizeof *m->pairs)) return NULL;
    size_t mask = m->n_pair_slots - 1, i = hash_pair(a, b) & mask;
    while (m->pair_slots[i]) i = (i + 1) & mask;
    m->pair_slots[i] = (uint32_t)(m->n_pairs + 1);
    p = &m->pairs[m->n_pairs++];
    *p = (pair_rec){a, b, 0, 0, -1, 0, 0};
    return p;
}

/* Adds delta occurrences of pair (a, b); with link, records that word holds it. */
static bool pair_bump(merger *m, int32_t a, int32_t b, int64_t delta, uint32_t word, bool link) {
    if (m->text_len[a] == 0 || m->text_len[b] == 0) return true; /* unmergeable symbols */
    if (m->max_chars && m->text_chars[a] + m->text_chars[b] > m->max_chars) return true;
    pair_rec *p = pair_get(m, a, b);
    if (!p) return false;
    if (p->stamp != m->stamp) {
        p->stamp = m->stamp;
        p->before = p->count;
        if (!reserve((void **)&m->touched, &m->touched_cap, m->n_touched + 1, sizeof *m->touched)) return false;
        m->touched[m->n_touched++] = (uint32_t)(p - m->pairs);
    }
    p->count += delta;
    if (link && p->last_word != word + 1) {
        if (!reserve((void **)&m->occ, &m->occ_cap, m->n_occ + 1, sizeof *m->occ)) return false;
        m->occ[m->n_occ] = (occ_node){word, p->head};
        p->head = (int64_t)m->n_occ++;
        p->last_word = word + 1;
    }
    return true;
}

/* ---------------------------------------------------------------- heap */

/* x comes out before y: more occurrences, then the greater (left, right) bytes. */
static bool heap_before(const merger *m, const heap_entry *x, const heap_entry *y) {
    if (x->count != y->count) return x->count > y->count;
    int c = cmp_sym(m, x->a, y->a);
    if (c) return c > 0;
    return cmp_sym(m, x->b, y->b) > 0;
}

static bool heap_push(merger *m, heap_entry e) {
    if (!reserve((void **)&m->heap, &m->heap_cap, m->n_heap + 1, sizeof *m->heap)) return false;
    size_t i = m->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_before(m, &e, &m->heap[parent])) break;
        m->heap[i] = m->heap[parent];
        i = parent;
    }
    m->heap[i] = e;
    return true;
}

static heap_entry heap_pop(merger *m) {
    heap_entry top = m->heap[0], last = m->heap[--m->n_heap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m->n_heap) break;
        if (c + 1 < m->n_heap && heap_before(m, &m->heap[c + 1], &m->heap[c])) c++;
        if (!heap_before(m, &m->heap[c], &last)) break;
        m->heap[i] = m->heap[c];
        i = c;
    }
    if (m->n_heap) m->heap[i] = last;
    return top;
}

/* ---------------------------------------------------------------- the engine */

slm_status merger_new(int32_t n, const char *const *texts, const uint32_t *lens, merger **out) {
    *out = NULL;
    merger *m = slm_calloc(1, sizeof *m, "BPE trainer");
    if (!m) return SLM_ERR_NOMEM;
    for (int32_t i = 0; i < n; i++)
        if (sym_add(m, texts[i], lens[i], NULL, 0) < 0) {
            merger_free(m);
            return slm_error(SLM_ERR_NOMEM, "BPE training: out of memory");
        }
    if (!m->n_sym_slots) { /* no mergeable symbol: still a valid (empty) hash */
        m->sym_slots = slm_malloc(16 * sizeof(int32_t), "BPE training symbols");
        if (!m->sym_slots) {
            merger_free(m);
            return SLM_ERR_NOMEM;
        }
        memset(m->sym_slots, 0xFF, 16 * sizeof(int32_t));
        m->n_sym_slots = 16;
    }
    *out = m;
    return SLM_OK;
}

void merger_set_max_chars(merger *m, uint32_t max_chars) { m->max_chars = max_chars; }

slm_status merger_add_word(merger *m, const int32_t *syms, uint32_t n, int64_t count) {
    if (n < 2 || count <= 0) return SLM_OK;
    if (m->n_words >= UINT32_MAX - 1 ||
        !reserve((void **)&m->words, &m->words_cap, m->n_words + 1, sizeof *m->words) ||
        !reserve((void **)&m->syms, &m->syms_cap, m->n_syms + n, sizeof *m->syms))
        return slm_error(SLM_ERR_NOMEM, "BPE training: out of memory for %zu words", m->n_words + 1);
    m->words[m->n_words++] = (word_rec){m->n_syms, n, 0, count};
    memcpy(m->syms + m->n_syms, syms, n * sizeof *syms);
    m->n_syms += n;
    return SLM_OK;
}

slm_status merger_start(merger *m) {
    m->stamp = 1;
    for (size_t w = 0; w < m->n_words; w++) {
        const int32_t *s = m->syms + m->words[w].off;
        for (uint32_t i = 0; i + 1 < m->words[w].len; i++)
            if (!pair_bump(m, s[i], s[i + 1], m->words[w].count, (uint32_t)w, true))
                return slm_error(SLM_ERR_NOMEM, "BPE training: out of memory counting pairs");
    }
    m->n_touched = 0;
    for (size_t k = 0; k < m->n_pairs; k++)
        if (m->pairs[k].count > 0 && !heap_push(m, (heap_entry){m->pairs[k].count, m->pairs[k].a, m->pairs[k].b}))
            return slm_error(SLM_ERR_NOMEM, "BPE training: out of memory");
    m->started = true;
    return SLM_OK;
}

/* Merges every (a, b) in word w into c, moving the counts of the pairs around them. */
static bool merge_word(merger *m, uint32_t w, int32_t a, int32_t b, int32_t c) {
    word_rec *wr = &m->words[w];
    int32_t *s = m->syms + wr->off;
    uint32_t n = wr->len, i;
    for (i = 0; i + 1 < n; i++)
        if (s[i] == a && s[i + 1] == b) break;
    if (i + 1 >= n) return true; /* a stale occurrence: the word no longer holds the pair */
    for (i = 0; i + 1 < n; i++)
        if (!pair_bump(m, s[i], s[i + 1], -wr->count, w, false)) return false;
    uint32_t j = 0;
    for (i = 0; i < n;) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            s[j++] = c;
            i += 2;
        } else s[j++] = s[i++];
    }
    wr->len = n = j;
    for (i = 0; i + 1 < n; i++)
        if (!pair_bump(m, s[i], s[i + 1], wr->count, w, s[i] == c || s[i + 1] == c)) return false;
    return true;
}

slm_status merger_step(merger *m, merge_step *out) {
    *out = (merge_step){-1, -1, -1, 0, false};
    if (!m->started) return slm_error(SLM_ERR_INVALID_ARG, "BPE training: merger_step before merger_start");
    pair_rec *p = NULL;
    while (m->n_heap > 0) {
        heap_entry e = heap_pop(m);
        pair_rec *q = pair_find(m, e.a, e.b);
        if (q && q->count == e.count && q->count > 0) {
            p = q;
            break;
        }
    }
    if (!p) return SLM_OK;
    int32_t a = p->a, b = p->b;
    int64_t count = p->count;
    int64_t head = p->head;
    /* the merged symbol: an existing one with these bytes, or a new one */
    uint32_t na = m->text_len[a], nb = m->text_len[b];
    char small[256], *joined = na + nb <= sizeof small ? small : slm_malloc((size_t)na + nb, "BPE training");
    if (!joined) return SLM_ERR_NOMEM;
    memcpy(joined, m->text + m->text_off[a], na);
    memcpy(joined + na, m->text + m->text_off[b], nb);
    int32_t c = sym_find(m, joined, na + nb);
    bool is_new = c < 0;
    if (is_new) c = sym_add(m, joined, na, joined + na, nb);
    if (joined != small) free(joined);
    if (c < 0) return slm_error(SLM_ERR_NOMEM, "BPE training: out of memory");
    /* visit each word of the pair's list once */
    m->stamp++;
    m->n_touched = 0;
    for (int64_t k = head; k >= 0; k = m->occ[k].next) {
        uint32_t w = m->occ[k].word;
        if (m->words[w].stamp == m->stamp) continue;
        m->words[w].stamp = m->stamp;
        if (!merge_word(m, w, a, b, c)) return slm_error(SLM_ERR_NOMEM, "BPE training: out of memory");
    }
    /* queue the pairs whose count changed */
    for (size_t t = 0; t < m->n_touched; t++) {
        const pair_rec *q = &m->pairs[m->touched[t]];
        if (q->count != q->before && q->count > 0 && !heap_push(m, (heap_entry){q->count, q->a, q->b}))
            return slm_error(SLM_ERR_NOMEM, "BPE training: out of memory");
    }
    *out = (merge_step){a, b, c, count, is_new};
    return SLM_OK;
}

/* Reports merging progress about every 1% of the merges. */
static void report_merges(const slm_tokenizer_train_params *p, int done, int total) {
    if (!p->progress || total <= 0) return;
    int step = total / 100 > 0 ? total / 100 : 1;
    if (done % step == 0 || done == total) p->progress("merging", done, total, p->progress_user);
}

slm_status merger_run(merger *m, int n_new, const slm_tokenizer_train_params *p, int32_t **pairs, int *n_merges) {
    size_t cap = 0;
    *pairs = NULL;
    *n_merges = 0;
    slm_status st = merger_start(m);
    for (int made = 0; st == SLM_OK && made < n_new;) {
        merge_step s;
        if ((st = merger_step(m, &s)) != SLM_OK || s.merged < 0) break;
        if ((size_t)*n_merges * 2 + 2 > cap) {
            cap = cap ? cap * 2 : 1024;
            int32_t *q = realloc(*pairs, cap * sizeof *q);
            if (!q) return slm_error(SLM_ERR_NOMEM, "BPE training: out of memory");
            *pairs = q;
        }
        (*pairs)[2 * *n_merges] = s.left;
        (*pairs)[2 * *n_merges + 1] = s.right;
        ++*n_merges;
        if (s.is_new) report_merges(p, ++made, n_new);
    }
    return st;
}

int32_t merger_n_symbols(const merger *m) { return m->n_sym; }

const char *merger_text(const merger *m, int32_t id, uint32_t *len) {
    *len = m->text_len[id];
    return m->text + m->text_off[id];
}

int64_t merger_pair_count(const merger *m, int32_t a, int32_t b) {
    const pair_rec *p = pair_find(m, a, b);
    return p ? p->count : 0;
}

void merger_free(merger *m) {
    if (!m) return;
    free(m->text);
    free(m->text_off);
    free(m->text_len);
    free(m->text_chars);
    free(m->sym_slots);
    free(m->syms);
    free(m->words);
    free(m->pairs);
    free(m->pair_slots);
    free(m->occ);
    free(m->heap);
    free(m->touched);
    free(m);
}
