/* bpe.c — byte-level BPE (GPT-2, Llama 3, Qwen 2, ...): the pre-tokenizer regexes that
 * tokenizer.ggml.pre names (PCRE2) split the text into pieces, each piece becomes GPT-2's
 * byte-to-unicode characters, and adjacent tokens merge lowest merge rank first (leftmost on
 * ties). tokenizer.c splits the text at special tokens and calls in here per fragment. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/utf8.h"
#include "tokenizer/textbuf.h"
#include "tokenizer/merge_queue.h"
#include "tokenizer/tokenizer.h"

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */
#define MAX_STEPS 6
#define N_BYTE_CPS 324 /* GPT-2's byte characters lie below U+0144 */

/* ---------------------------------------------------------------- pre-tokenizer presets */

/* The regexes of each pre-tokenizer, as the models' tokenizer.json files give them. Each step
 * splits every piece into its matches and the gaps between them (Hugging Face's "Isolated"
 * split); steps before byte_level_at see the text, later ones its byte-level characters. */
typedef struct {
    const char *names[6]; /* tokenizer.ggml.pre values, NULL-terminated */
    const char *steps[MAX_STEPS];
    int n_steps;
    int byte_level_at;  /* index of the first step that sees byte-level text (n_steps: none) */
    bool ignore_merges; /* a piece that is a whole token is taken as is, without merging */
} bpe_preset;

#define GPT2_RE BPE_GPT2_PATTERN
#define CJK_RE "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
/* DeepSeek LLM's list of cased letters (a subset of \p{Lu}\p{Ll}\p{Lt}, spelled out there). */
#define DEEPSEEK_LETTERS                                                                                             \
    "A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}"  \
    "\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}"     \
    "\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}"      \
    "\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}"                \
    "\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}"                \
    "\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}"        \
    "\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}"       \
    "\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}"        \
    "\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"                  \
    "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}"       \
    "\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}"                 \
    "\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}"               \
    "\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}"       \
    "\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}"

static const bpe_preset PRESETS[] = {
    /* GPT-2's ByteLevel pre-tokenizer; also the fallback for names not listed here. */
    {{"default", "gpt2", "gpt-2", "mpt", "olmo", "phi-2"}, {GPT2_RE}, 1, 1, false},
    {{"llama3", "llama-v3", "llama-bpe"},
     {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
      "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     1, 1, true},
    {{"qwen2", "deepseek-r1-qwen"},
     {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
      "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     1, 1, false},
    /* Digits one by one, then GPT-2's regex. */
    {{"starcoder", "refact"}, {"\\p{N}", GPT2_RE}, 2, 2, false},
    /* Punctuation runs (Unicode P and ASCII punctuation), GPT-2's regex, then on the byte-level
       text: runs of digits, and groups of three ASCII digits. */
    {{"falcon"}, {"[\\p{P}$+<=>^`|~]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]"}, 4, 2, false},
    {{"deepseek-coder"}, {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", CJK_RE, "\\p{N}"}, 5, 5, false},
    {{"deepseek-llm"},
     {"[\\r\\n]", "\\s?[" DEEPSEEK_LETTERS "]+",
      "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+", "\\s+$", CJK_RE,
      "\\p{N}+"},
     6, 6, false},
};

static const bpe_preset *find_preset(const char *name, bool *known) {
    *known = true;
    for (size_t p = 0; p < sizeof PRESETS / sizeof PRESETS[0]; p++)
        for (int i = 0; i < 6 && PRESETS[p].names[i]; i++)
            if (name && strcmp(name, PRESETS[p].names[i]) == 0) return &PRESETS[p];
    *known = false;
    return &PRESETS[0];
}

/* ---------------------------------------------------------------- the vocabulary's BPE state */

typedef struct {
    int32_t left, right; /* token ids; left < 0 marks an empty slot */
    int32_t rank;        /* position in tokenizer.ggml.merges: lower merges first */
    int32_t merged;      /* id of the token left + right */
} merge_entry;

struct bpe_vocab {
    const bpe_preset *preset;
    bool pre_known;                    /* tokenizer.ggml.pre named a preset (else GPT-2's) */
    pcre2_code *re[MAX_STEPS];
    uint16_t cp_of_byte[256];          /* GPT-2's bytes_to_unicode: byte -> code point */
    int16_t byte_of_cp[N_BYTE_CPS];    /* the inverse; -1 where a code point is no byte */
    int32_t byte_id[256];              /* token of each byte's character, or -1 */
    merge_entry *merges;               /* (merge_cap,) open addressing on (left, right) */
    uint32_t merge_cap, n_merges;      /* merge_cap a power of two */
    int32_t n_ranks;                   /* merges offered so far (skipped ones included) */
};

static uint32_t pair_hash(int32_t left, int32_t right) {
    uint64_t k = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    k *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(k >> 32);
}

static const merge_entry *merge_find(const bpe_vocab *b, int32_t left, int32_t right) {
    if (!b->merge_cap) return NULL;
    uint32_t mask = b->merge_cap - 1;
    for (uint32_t i = pair_hash(left, right) & mask;; i = (i + 1) & mask) {
        const merge_entry *e = &b->merges[i];
        if (e->left < 0) return NULL;
        if (e->left == left && e->right == right) return e;
    }
}

static void merge_insert(merge_entry *table, uint32_t cap, merge_entry e) {
    uint32_t mask = cap - 1, i = pair_hash(e.left, e.right) & mask;
    while (table[i].left >= 0) i = (i + 1) & mask;
    table[i] = e;
}

static bool merges_grow(bpe_vocab *b) {
    uint32_t cap = b->merge_cap ? b->merge_cap * 2 : 1024;
    merge_entry *t = slm_malloc((size_t)cap * sizeof *t, "BPE merge table");
    if (!t) return false;
    for (uint32_t i = 0; i < cap; i++) t[i].left = -1;
    for (uint32_t i = 0; i < b->merge_cap; i++)
        if (b->merges[i].left >= 0) merge_insert(t, cap, b->merges[i]);
    free(b->merges);
    b->merges = t;
    b->merge_cap = cap;
    return true;
}

/* Writes code point cp as UTF-8 (cp < 0x800 here); returns the length. */
static int put_cp2(char *out, uint32_t cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves; the other 68 bytes
 * (controls, space, DEL, NBSP, soft hyphen...) take U+0100, U+0101, ... in byte order. */
void bpe_byte_chars(uint16_t cp_of_byte[256]) {
    uint32_t next = 256;
    for (int c = 0; c < 256; c++) {
        bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
        cp_of_byte[c] = (uint16_t)(printable ? (uint32_t)c : next++);
    }
}

static void build_byte_map(bpe_vocab *b) {
    bpe_byte_chars(b->cp_of_byte);
    for (int i = 0; i < N_BYTE_CPS; i++) b->byte_of_cp[i] = -1;
    for (int c = 0; c < 256; c++) b->byte_of_cp[b->cp_of_byte[c]] = (int16_t)c;
}

slm_status bpe_init(slm_tokenizer *tok, const char *pre) {
    const char *name = pre && *pre ? pre : "default";
    bpe_vocab *b = slm_calloc(1, sizeof *b, "BPE state");
    if (!b) return SLM_ERR_NOMEM;
    b->preset = find_preset(name, &b->pre_known);
    build_byte_map(b);
    for (int c = 0; c < 256; c++) {
        char s[2];
        int n = put_cp2(s, b->cp_of_byte[c]);
        b->byte_id[c] = tokenizer_find(tok, s, (uint32_t)n);
    }
    bpe_free(tok->bpe);
    tok->bpe = b;
    tok->kind = TOKENIZER_BPE;
    for (int i = 0; i < b->preset->n_steps; i++) {
        int err;
        PCRE2_SIZE at;
        b->re[i] = pcre2_compile((PCRE2_SPTR)b->preset->steps[i], PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err,
                                 &at, NULL);
        if (!b->re[i]) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            return slm_error(SLM_ERR_UNSUPPORTED, "tokenizer: pre-tokenizer '%s' regex %d does not compile at %zu: %s",
                             b->preset->names[0], i, (size_t)at, (const char *)msg);
        }
        pcre2_jit_compile(b->re[i], PCRE2_JIT_COMPLETE); /* interpreted when JIT is unavailable */
    }
    return SLM_OK;
}

slm_status bpe_add_merge(slm_tokenizer *tok, const char *text, size_t len) {
    bpe_vocab *b = tok->bpe;
    int32_t rank = b->n_ranks++;
    const char *sp = len > 2 && len < (1u << 20) ? memchr(text + 1, ' ', len - 2) : NULL;
    if (!sp) return SLM_OK; /* not "a b": nothing to merge */
    uint32_t la = (uint32_t)(sp - text), lb = (uint32_t)(len - la - 1);
    int32_t left = tokenizer_find(tok, text, la), right = tokenizer_find(tok, sp + 1, lb);
    if (left < 0 || right < 0 || merge_find(b, left, right)) return SLM_OK; /* unknown part, or a repeat */
    char small[256], *joined = la + lb <= sizeof small ? small : slm_malloc(la + lb, "BPE merge");
    if (!joined) return SLM_ERR_NOMEM;
    memcpy(joined, text, la);
    memcpy(joined + la, sp + 1, lb);
    int32_t merged = tokenizer_find(tok, joined, la + lb);
    if (joined != small) free(joined);
    if (merged < 0) return SLM_OK; /* the union is no token */
    if ((b->n_merges + 1) * 2 > b->merge_cap && !merges_grow(b)) return SLM_ERR_NOMEM;
    merge_insert(b->merges, b->merge_cap, (merge_entry){left, right, rank, merged});
    b->n_merges++;
    return SLM_OK;
}

void bpe_free(bpe_vocab *b) {
    if (!b) return;
    for (int i = 0; i < MAX_STEPS; i++) pcre2_code_free(b->re[i]);
    free(b->merges);
    free(b);
}

static int merge_rank_cmp(const void *a, const void *b) {
    const merge_entry *x = a, *y = b;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

uint32_t bpe_n_merges(const slm_tokenizer *tok) { return tok->bpe ? tok->bpe->n_merges : 0; }

slm_status bpe_merge_pairs(const slm_tokenizer *tok, int32_t *pairs) {
    const bpe_vocab *b = tok->bpe;
    if (!b || !b->n_merges) return SLM_OK;
    merge_entry *list = slm_malloc((size_t)b->n_merges * sizeof *list, "BPE merge list");
    if (!list) return SLM_ERR_NOMEM;
    uint32_t n = 0;
    for (uint32_t i = 0; i < b->merge_cap; i++)
        if (b->merges[i].left >= 0) list[n++] = b->merges[i];
    qsort(list, n, sizeof *list, merge_rank_cmp);
    for (uint32_t i = 0; i < n; i++) {
        pairs[2 * i] = list[i].left;
        pairs[2 * i + 1] = list[i].right;
    }
    free(list);
    return SLM_OK;
}

const char *bpe_pre_name(const slm_tokenizer *tok, bool *known) {
    if (known) *known = tok->bpe && tok->bpe->pre_known;
    return tok->bpe ? tok->bpe->preset->names[0] : NULL;
}

/* ---------------------------------------------------------------- merging, over one piece */

typedef struct {
    int32_t id;         /* current token, -1 for a byte whose character has no token */
    int32_t prev, next; /* neighbours in the live list, -1 at the ends */
} symbol;

/* Queued merges (merge_queue.h): key = merge rank; check = {left id, right id, merged id}: the
 * ids when queued (stale if either side changed since) and the id they merge into. */

/* Scratch space reused by every piece of a fragment. */
typedef struct {
    const slm_tokenizer *tok;
    id_list *out;
    symbol *sym;
    size_t sym_cap;
    merge_queue queue;
    byte_buf mapped; /* the current piece as byte-level characters */
    pcre2_match_data *md[MAX_STEPS];
} encoder;

static bool try_queue(encoder *e, int32_t left) {
    if (left < 0 || e->sym[left].next < 0) return true;
    int32_t right = e->sym[left].next;
    int32_t a = e->sym[left].id, c = e->sym[right].id;
    if (a < 0 || c < 0) return true;
    const merge_entry *m = merge_find(e->tok->bpe, a, c);
    return !m || merge_queue_push(&e->queue, (merge_candidate){m->rank, left, right, {a, c, m->merged}});
}

static bool plain_token(const slm_tokenizer *tok, int id) {
    return id >= 0 && tok->type[id] != TOKEN_CONTROL && tok->type[id] != TOKEN_USER_DEFINED;
}

/* Emits the ids of one piece, given as byte-level characters. */
static slm_status encode_piece(encoder *e, const char *s, size_t n) {
    const slm_tokenizer *tok = e->tok;
    const bpe_vocab *b = tok->bpe;
    if (n == 0) return SLM_OK;
    if (b->preset->ignore_merges) {
        int id = tokenizer_find(tok, s, (uint32_t)n);
        if (plain_token(tok, id)) return ids_push(e->out, id) ? SLM_OK : SLM_ERR_NOMEM;
    }
    if (n > e->sym_cap) {
        symbol *q = realloc(e->sym, n * sizeof *q);
        if (!q) return SLM_ERR_NOMEM;
        e->sym = q;
        e->sym_cap = n;
    }
    int32_t n_sym = 0;
    for (size_t pos = 0; pos < n;) {
        /* the characters are ours (code points below N_BYTE_CPS, one or two bytes) */
        uint32_t cp = (uint8_t)s[pos];
        size_t cl = 1;
        if (cp >= 0xC0 && pos + 1 < n) cp = ((cp & 0x1F) << 6) | ((uint8_t)s[pos + 1] & 0x3F), cl = 2;
        int byte = cp < N_BYTE_CPS ? b->byte_of_cp[cp] : -1;
        e->sym[n_sym] = (symbol){byte >= 0 ? b->byte_id[byte] : -1, n_sym - 1, -1};
        if (n_sym > 0) e->sym[n_sym - 1].next = n_sym;
        n_sym++;
        pos += cl;
    }
    e->queue.n = 0;
    for (int32_t i = 0; i + 1 < n_sym; i++)
        if (!try_queue(e, i)) return SLM_ERR_NOMEM;
    while (e->queue.n > 0) {
        merge_candidate p = merge_queue_pop(&e->queue);
        symbol *l = &e->sym[p.left], *r = &e->sym[p.right];
        if (l->next != p.right || l->id != p.check[0] || r->id != p.check[1]) continue;
        l->id = p.check[2];
        l->next = r->next;
        if (r->next >= 0) e->sym[r->next].prev = p.left;
        r->id = -1;
        r->prev = r->next = -1;
        if (!try_queue(e, l->prev) || !try_queue(e, p.left)) return SLM_ERR_NOMEM;
    }
    for (int32_t i = 0; i >= 0; i = e->sym[i].next) {
        int32_t id = e->sym[i].id >= 0 ? e->sym[i].id : tok->unk; /* a byte with no token: <unk> or nothing */
        if (id >= 0 && !ids_push(e->out, id)) return SLM_ERR_NOMEM;
    }
    return SLM_OK;
}

/* Replaces the contents of e->mapped with text as GPT-2's byte characters. */
static bool map_bytes(encoder *e, const char *text, size_t n) {
    e->mapped.n = 0;
    for (size_t i = 0; i < n; i++) {
        char c[2];
        int cl = put_cp2(c, e->tok->bpe->cp_of_byte[(uint8_t)text[i]]);
        if (!buf_put(&e->mapped, c, (size_t)cl)) return false;
    }
    return true;
}

/* Splits s by pre-tokenizer step `step` and hands each match and each gap between matches to
 * the next step; past the last step, each piece is merged. */
static slm_status split_step(encoder *e, int step, const char *s, size_t n, bool mapped) {
    const bpe_vocab *b = e->tok->bpe;
    if (!mapped && step == b->preset->byte_level_at) {
        if (!map_bytes(e, s, n)) return SLM_ERR_NOMEM;
        return split_step(e, step, e->mapped.s, e->mapped.n, true);
    }
    if (step >= b->preset->n_steps || step >= MAX_STEPS) return encode_piece(e, s, n);
    slm_status st = SLM_OK;
    size_t pos = 0;
    while (st == SLM_OK && pos < n) {
        uint32_t opts = PCRE2_NO_UTF_CHECK | PCRE2_NOTEMPTY;
        int rc = pcre2_match(b->re[step], (PCRE2_SPTR)s, n, pos, opts, e->md[step], NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* the interpreter keeps its backtracking on the heap */
            rc = pcre2_match(b->re[step], (PCRE2_SPTR)s, n, pos, opts | PCRE2_NO_JIT, e->md[step], NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return slm_error(rc == PCRE2_ERROR_NOMEMORY ? SLM_ERR_NOMEM : SLM_ERR_UNSUPPORTED,
                             "tokenizer: pre-tokenizer regex failed: %s", (const char *)msg);
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md[step]);
        if (ov[0] > pos) st = split_step(e, step + 1, s + pos, ov[0] - pos, mapped);
        if (st == SLM_OK) st = split_step(e, step + 1, s + ov[0], ov[1] - ov[0], mapped);
        pos = ov[1];
    }
    if (st == SLM_OK && pos < n) st = split_step(e, step + 1, s + pos, n - pos, mapped);
    return st;
}

slm_status bpe_encode_fragment(const slm_tokenizer *tok, const char *text, size_t n, id_list *out) {
    /* Invalid UTF-8 bytes become U+FFFD, one per byte (as the SentencePiece path does). */
    byte_buf clean = {0};
    size_t i = 0;
    while (i < n) {
        size_t cl = slm_utf8_valid_len(text + i, n - i);
        if (cl == 0) break;
        i += cl;
    }
    bool ok = true;
    if (i < n) {
        ok = buf_put(&clean, text, i);
        while (ok && i < n) {
            size_t cl = slm_utf8_valid_len(text + i, n - i);
            ok = cl ? buf_put(&clean, text + i, cl) : buf_put(&clean, REPLACEMENT, 3);
            i += cl ? cl : 1;
        }
        text = clean.s;
        n = clean.n;
    }
    encoder e = {.tok = tok, .out = out};
    for (int s = 0; ok && s < tok->bpe->preset->n_steps; s++) ok = (e.md[s] = pcre2_match_data_create(1, NULL)) != NULL;
    slm_status st = ok ? split_step(&e, 0, text, n, false) : SLM_ERR_NOMEM;
    for (int s = 0; s < MAX_STEPS; s++) pcre2_match_data_free(e.md[s]);
    free(e.sym);
    free(e.queue.items);
    free(e.mapped.s);
    free(clean.s);
    return st == SLM_ERR_NOMEM ? slm_error(st, "tokenizer: out of memory") : st;
}

/* ---------------------------------------------------------------- decoding */

/* Appends the bytes of token id: byte characters back to bytes (other characters as they are),
 * user-defined tokens as their text, control tokens as nothing. */
static bool put_token(const slm_tokenizer *tok, byte_buf *out, int id) {
    const bpe_vocab *b = tok->bpe;
    const char *s = tok->text[id];
    size_t n = tok->len[id];
    if (tok->type[id] == TOKEN_CONTROL) return true;
    if (tok->type[id] == TOKEN_USER_DEFINED) return buf_put(out, s, n);
    for (size_t i = 0; i < n;) {
        size_t cl = slm_utf8_valid_len(s + i, n - i);
        if (cl == 0) cl = 1;
        uint32_t c0 = (uint8_t)s[i], cp = cl == 2 ? ((c0 & 0x1F) << 6) | ((uint8_t)s[i + 1] & 0x3Fu) : c0;
        int byte = (cl <= 2 && cp < N_BYTE_CPS) ? b->byte_of_cp[cp] : -1;
        char c = (char)byte;
        if (!(byte >= 0 ? buf_put(out, &c, 1) : buf_put(out, s + i, cl))) return false;
        i += cl;
    }
    return true;
}

slm_status bpe_decode(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text, size_t *len) {
    byte_buf out = {0};
    bool ok = buf_put(&out, "", 0);
    for (size_t i = 0; ok && i < n_ids; i++) ok = put_token(tok, &out, ids[i]);
    if (!ok) {
        free(out.s);
        return slm_error(SLM_ERR_NOMEM, "detokenize: out of memory");
    }
    *text = out.s;
    if (len) *len = out.n;
    return SLM_OK;
}

int bpe_token_to_bytes(const slm_tokenizer *tok, int id, char *buf, size_t cap) {
    byte_buf b = {0};
    size_t n = put_token(tok, &b, id) ? b.n : 0;
    if (n > cap) n = cap;
    if (n) memcpy(buf, b.s, n);
    free(b.s);
    return (int)n;
}
