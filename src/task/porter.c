/* porter.c — the Porter stemmer (M. F. Porter, "An algorithm for suffix stripping", 1980) with
 * the extensions of NLTK's PorterStemmer in its default mode, so that keyphrase evaluation
 * stems exactly as the standard Python tooling does. Works on Unicode code points. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "slm.h"
#include "task/keywords_internal.h"

/* A word being stemmed: lowercased code points. */
typedef struct {
    int32_t *c;
    int n;
} word_buf;

static int is_vowel_letter(int32_t ch) { return ch == 'a' || ch == 'e' || ch == 'i' || ch == 'o' || ch == 'u'; }

/* Whether w[i] is a consonant: not a, e, i, o, u, and a 'y' only at the start or after a vowel. */
static int is_consonant(const int32_t *w, int i) {
    if (is_vowel_letter(w[i])) return 0;
    if (w[i] != 'y') return 1;
    int negate = 0;
    while (i > 0 && w[i] == 'y') {
        negate = !negate;
        i--;
    }
    return (!is_vowel_letter(w[i])) != negate;
}

/* m in [C](VC){m}[V] of w[0..n), in one pass (the flag of a 'y' follows from the previous one). */
static int measure(const int32_t *w, int n) {
    int m = 0, prev = 1;
    for (int i = 0; i < n; i++) {
        int cons = is_vowel_letter(w[i]) ? 0 : w[i] == 'y' ? (i == 0 ? 1 : !prev) : 1;
        if (i > 0 && !prev && cons) m++;
        prev = cons;
    }
    return m;
}

static int contains_vowel(const int32_t *w, int n) {
    int prev = 1;
    for (int i = 0; i < n; i++) {
        int cons = is_vowel_letter(w[i]) ? 0 : w[i] == 'y' ? (i == 0 ? 1 : !prev) : 1;
        if (!cons) return 1;
        prev = cons;
    }
    return 0;
}

static int ends_double_consonant(const int32_t *w, int n) {
    return n >= 2 && w[n - 1] == w[n - 2] && is_consonant(w, n - 1);
}

/* *o: consonant-vowel-consonant with the last not w, x or y; or (NLTK) vowel-consonant words. */
static int ends_cvc(const int32_t *w, int n) {
    if (n >= 3 && is_consonant(w, n - 3) && !is_consonant(w, n - 2) && is_consonant(w, n - 1) && w[n - 1] != 'w' &&
        w[n - 1] != 'x' && w[n - 1] != 'y')
        return 1;
    return n == 2 && !is_consonant(w, 0) && is_consonant(w, 1);
}

static int ends_with(const word_buf *w, const char *suffix) {
    int k = (int)strlen(suffix);
    if (k > w->n) return 0;
    for (int i = 0; i < k; i++)
        if (w->c[w->n - k + i] != (unsigned char)suffix[i]) return 0;
    return 1;
}

/* Drops k code points and appends an ASCII replacement (the buffer has room: replacements are
 * never longer than the suffix by more than 2, and the buffer has 4 spare slots). */
static void replace_tail(word_buf *w, int k, const char *replacement) {
    w->n -= k;
    for (const char *r = replacement; *r; r++) w->c[w->n++] = (unsigned char)*r;
}

typedef enum { COND_NONE, COND_M_GT0, COND_M_GT1, COND_ION, COND_LOGI } rule_cond;
typedef struct {
    const char *suffix, *replacement;
    rule_cond cond;
} rule;

static int rule_holds(const word_buf *w, int stem_len, rule_cond cond) {
    switch (cond) {
    case COND_NONE: return 1;
    case COND_M_GT0: return measure(w->c, stem_len) > 0;
    case COND_M_GT1: return measure(w->c, stem_len) > 1;
    case COND_ION: return measure(w->c, stem_len) > 1 && stem_len > 0 && (w->c[stem_len - 1] == 's' || w->c[stem_len - 1] == 't');
    case COND_LOGI: return measure(w->c, w->n - 3) > 0;
    }
    return 0;
}

/* The first rule whose suffix the word ends with decides: replaced when its condition holds,
 * left alone otherwise. */
static void apply_rules(word_buf *w, const rule *rules, int n_rules) {
    for (int i = 0; i < n_rules; i++) {
        if (!ends_with(w, rules[i].suffix)) continue;
        int stem_len = w->n - (int)strlen(rules[i].suffix);
        if (rule_holds(w, stem_len, rules[i].cond)) replace_tail(w, (int)strlen(rules[i].suffix), rules[i].replacement);
        return;
    }
}

static void step1a(word_buf *w) {
    if (w->n == 4 && ends_with(w, "ies")) {
        replace_tail(w, 3, "ie");
        return;
    }
    static const rule rules[] = {{"sses", "ss", COND_NONE}, {"ies", "i", COND_NONE}, {"ss", "ss", COND_NONE}, {"s", "", COND_NONE}};
    apply_rules(w, rules, 4);
}

static void step1b(word_buf *w) {
    if (ends_with(w, "ied")) {
        replace_tail(w, 3, w->n == 4 ? "ie" : "i");
        return;
    }
    if (ends_with(w, "eed")) {
        if (measure(w->c, w->n - 3) > 0) replace_tail(w, 3, "ee");
        return;
    }
    int cut = 0;
    if (ends_with(w, "ed") && contains_vowel(w->c, w->n - 2)) cut = 2;
    else if (ends_with(w, "ing") && contains_vowel(w->c, w->n - 3)) cut = 3;
    if (!cut) return;
    w->n -= cut;
    if (ends_with(w, "at")) replace_tail(w, 2, "ate");
    else if (ends_with(w, "bl")) replace_tail(w, 2, "ble");
    else if (ends_with(w, "iz")) replace_tail(w, 2, "ize");
    else if (ends_double_consonant(w->c, w->n) || ends_with(w, "*d")) {
        /* the double-consonant rule (NLTK also reads a literal "*d" ending as this rule) */
        int32_t last = w->c[w->n - 1];
        if (last != 'l' && last != 's' && last != 'z') {
            w->n -= 2;
            w->c[w->n++] = last;
        }
    } else if (measure(w->c, w->n) == 1 && ends_cvc(w->c, w->n)) {
        w->c[w->n++] = 'e';
    }
}

static void step1c(word_buf *w) {
    if (!ends_with(w, "y")) return;
    int stem_len = w->n - 1;
    if (stem_len > 1 && is_consonant(w->c, stem_len - 1)) w->c[w->n - 1] = 'i';
}

static void step2(word_buf *w) {
    while (ends_with(w, "alli") && measure(w->c, w->n - 4) > 0) replace_tail(w, 4, "al");
    static const rule rules[] = {
        {"ational", "ate", COND_M_GT0}, {"tional", "tion", COND_M_GT0}, {"enci", "ence", COND_M_GT0},
        {"anci", "ance", COND_M_GT0},   {"izer", "ize", COND_M_GT0},    {"bli", "ble", COND_M_GT0},
        {"alli", "al", COND_M_GT0},     {"entli", "ent", COND_M_GT0},   {"eli", "e", COND_M_GT0},
        {"ousli", "ous", COND_M_GT0},   {"ization", "ize", COND_M_GT0}, {"ation", "ate", COND_M_GT0},
        {"ator", "ate", COND_M_GT0},    {"alism", "al", COND_M_GT0},    {"iveness", "ive", COND_M_GT0},
        {"fulness", "ful", COND_M_GT0}, {"ousness", "ous", COND_M_GT0}, {"aliti", "al", COND_M_GT0},
        {"iviti", "ive", COND_M_GT0},   {"biliti", "ble", COND_M_GT0},  {"fulli", "ful", COND_M_GT0},
        {"logi", "log", COND_LOGI},
    };
    apply_rules(w, rules, (int)(sizeof rules / sizeof rules[0]));
}

static void step3(word_buf *w) {
    static const rule rules[] = {
        {"icate", "ic", COND_M_GT0}, {"ative", "", COND_M_GT0}, {"alize", "al", COND_M_GT0}, {"iciti", "ic", COND_M_GT0},
        {"ical", "ic", COND_M_GT0},  {"ful", "", COND_M_GT0},   {"ness", "", COND_M_GT0},
    };
    apply_rules(w, rules, (int)(sizeof rules / sizeof rules[0]));
}

static void step4(word_buf *w) {
    static const rule rules[] = {
        {"al", "", COND_M_GT1},   {"ance", "", COND_M_GT1}, {"ence", "", COND_M_GT1}, {"er", "", COND_M_GT1},
        {"ic", "", COND_M_GT1},   {"able", "", COND_M_GT1}, {"ible", "", COND_M_GT1}, {"ant", "", COND_M_GT1},
        {"ement", "", COND_M_GT1}, {"ment", "", COND_M_GT1}, {"ent", "", COND_M_GT1},  {"ion", "", COND_ION},
        {"ou", "", COND_M_GT1},   {"ism", "", COND_M_GT1},  {"ate", "", COND_M_GT1},  {"iti", "", COND_M_GT1},
        {"ous", "", COND_M_GT1},  {"ive", "", COND_M_GT1},  {"ize", "", COND_M_GT1},
    };
    apply_rules(w, rules, (int)(sizeof rules / sizeof rules[0]));
}

static void step5(word_buf *w) {
    if (ends_with(w, "e")) {
        int m = measure(w->c, w->n - 1);
        if (m > 1 || (m == 1 && !ends_cvc(w->c, w->n - 1))) w->n--;
    }
    if (ends_with(w, "ll") && measure(w->c, w->n - 1) > 1) w->n--;
}

/* NLTK's irregular forms: a whole (lowercased) word mapped to its stem. */
static const char *irregular_stem(const word_buf *w) {
    static const char *const forms[][2] = {
        {"sky", "sky"},         {"skies", "sky"},     {"dying", "die"},       {"lying", "lie"},
        {"tying", "tie"},       {"news", "news"},     {"innings", "inning"},  {"inning", "inning"},
        {"outings", "outing"},  {"outing", "outing"}, {"cannings", "canning"}, {"canning", "canning"},
        {"howe", "howe"},       {"proceed", "proceed"}, {"exceed", "exceed"}, {"succeed", "succeed"},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        const char *f = forms[i][0];
        int k = (int)strlen(f);
        if (k != w->n) continue;
        int same = 1;
        for (int j = 0; j < k && same; j++) same = w->c[j] == (unsigned char)f[j];
        if (same) return forms[i][1];
    }
    return NULL;
}

/* Python's str.lower() of one code point, into out (up to 2 code points); returns the count.
 * Final sigma is handled by the caller. */
static int lower_codepoint(int32_t cp, int32_t *out) {
    if (cp == 0x130) { /* LATIN CAPITAL LETTER I WITH DOT ABOVE: 'i' + COMBINING DOT ABOVE */
        out[0] = 'i';
        out[1] = 0x307;
        return 2;
    }
    out[0] = utf8proc_tolower(cp);
    return 1;
}

static int is_cased(int32_t cp) {
    return utf8proc_tolower(cp) != cp || utf8proc_toupper(cp) != cp || utf8proc_totitle(cp) != cp;
}

static int is_case_ignorable(int32_t cp) {
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_ME || c == UTF8PROC_CATEGORY_CF ||
           c == UTF8PROC_CATEGORY_LM || c == UTF8PROC_CATEGORY_SK || cp == '\'' || cp == 0x2019 || cp == '.' ||
           cp == ':' || cp == 0xB7 || cp == 0xAD;
}

/* Final_Sigma: a capital sigma after a cased letter and not before one becomes final sigma. */
static int32_t lower_sigma(const int32_t *cps, int n, int i) {
    int before = 0, after = 0;
    for (int j = i - 1; j >= 0; j--) {
        if (is_case_ignorable(cps[j])) continue;
        before = is_cased(cps[j]);
        break;
    }
    for (int j = i + 1; j < n; j++) {
        if (is_case_ignorable(cps[j])) continue;
        after = is_cased(cps[j]);
        break;
    }
    return before && !after ? 0x3C2 : 0x3C3;
}

int slm_porter_stem(const char *word, size_t len, char *out, size_t cap) {
    if (!word || !out || cap == 0) return -1;
    out[0] = '\0';
    /* decode */
    int32_t stack_cps[64], stack_low[140];
    int32_t *cps = stack_cps, *low = stack_low;
    int32_t *heap = NULL;
    if (len > 60) {
        heap = (int32_t *)malloc((len + 1) * sizeof(int32_t) + (2 * len + 8) * sizeof(int32_t));
        if (!heap) return -1;
        cps = heap;
        low = heap + len + 1;
    }
    int n = 0;
    size_t pos = 0;
    while (pos < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)word + pos, (utf8proc_ssize_t)(len - pos), &cp);
        if (k <= 0) {
            free(heap);
            return -1;
        }
        cps[n++] = cp;
        pos += (size_t)k;
    }
    word_buf w = {low, 0};
    for (int i = 0; i < n; i++) {
        if (cps[i] == 0x3A3) w.c[w.n++] = lower_sigma(cps, n, i);
        else w.n += lower_codepoint(cps[i], w.c + w.n);
    }
    const char *irregular = irregular_stem(&w);
    if (irregular) {
        size_t k = strlen(irregular);
        int ok = k + 1 <= cap;
        if (ok) memcpy(out, irregular, k + 1);
        free(heap);
        return ok ? (int)k : -1;
    }
    if (n > 2) {
        step1a(&w);
        step1b(&w);
        step1c(&w);
        step2(&w);
        step3(&w);
        step4(&w);
        step5(&w);
    }
    /* encode */
    size_t o = 0;
    for (int i = 0; i < w.n; i++) {
        utf8proc_uint8_t buf[4];
        utf8proc_ssize_t k = utf8proc_encode_char(w.c[i], buf);
        if (o + (size_t)k + 1 > cap) {
            free(heap);
            out[0] = '\0';
            return -1;
        }
        memcpy(out + o, buf, (size_t)k);
        o += (size_t)k;
    }
    out[o] = '\0';
    free(heap);
    return (int)o;
}
