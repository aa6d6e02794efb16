/* word_classes.c — closed English word classes that mark noun-phrase edges without a
 * part-of-speech tagger: determiners and prepositions before a phrase, auxiliaries after it,
 * generic modifiers and heads ("new", "approach") that rarely make a keyphrase, and common verbs
 * (matched by Porter stem, so every inflection counts). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "task/keywords_internal.h"

static const char *const DETERMINERS[] = {"a", "an", "any", "each", "every", "her", "his", "its", "my",
                                          "no", "our", "some", "such", "that", "the", "their", "these",
                                          "this", "those", "your"};
static const char *const PREPOSITIONS[] = {"about", "across", "against", "among", "as", "at", "between", "by",
                                           "for", "from", "in", "into", "of", "on", "onto", "over", "through",
                                           "to", "toward", "towards", "under", "upon", "via", "with", "within",
                                           "without"};
static const char *const AUXILIARIES[] = {"are", "be", "been", "being", "can", "cannot", "could", "did", "do",
                                          "does", "had", "has", "have", "is", "may", "might", "must", "shall",
                                          "should", "was", "were", "will", "would"};
static const char *const CONJUNCTIONS[] = {"and", "but", "nor", "or", "whereas", "while"};
static const char *const GENERIC[] = {
    "approach", "approaches", "aspect", "aspects", "based", "basic", "best", "case", "cases", "certain",
    "common", "current", "different", "difficult", "effective", "efficient", "example", "examples",
    "existing", "fact", "few", "following", "general", "good", "great", "high", "important", "large",
    "low", "main", "major", "method", "methods", "new", "novel", "number", "numbers", "order", "paper",
    "part", "parts", "possible", "present", "previous", "problem", "problems", "proposed", "recent",
    "related", "result", "results", "same", "show", "significant", "simple", "small", "specific", "study",
    "technique", "techniques", "terms", "type", "types", "useful", "way", "ways", "work", "works"};

static int in_sorted(const char *const *list, size_t n, const char *w, size_t len) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strncmp(list[mid], w, len);
        if (c == 0) c = list[mid][len] == '\0' ? 0 : 1;
        if (c == 0) return 1;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

#define IN(list, w, len) in_sorted(list, sizeof list / sizeof list[0], w, len)

int kw_word_class(const char *folded, size_t len) {
    if (IN(DETERMINERS, folded, len)) return KW_CLASS_DETERMINER;
    if (IN(PREPOSITIONS, folded, len)) return KW_CLASS_PREPOSITION;
    if (IN(AUXILIARIES, folded, len)) return KW_CLASS_AUXILIARY;
    if (IN(CONJUNCTIONS, folded, len)) return KW_CLASS_CONJUNCTION;
    if (IN(GENERIC, folded, len)) return KW_CLASS_GENERIC;
    return KW_CLASS_NONE;
}

/* Common English verbs (base forms, and irregular past forms) that start clauses rather than
 * keyphrases. */
static const char *const VERBS[] = {
    "achieve", "add", "address", "allow", "analyse", "analyze", "apply", "argue", "assess", "assume",
    "avoid", "become", "began", "begin", "bring", "brought", "build", "call", "came", "carry", "cause",
    "change", "choose", "combine", "compare", "compute", "concern", "conclude", "conduct", "confirm",
    "connect", "consider", "consist", "contain", "continue", "contribute", "create", "deal", "define",
    "demonstrate", "depend", "derive", "describe", "determine", "develop", "discuss", "emerge",
    "enable", "ensure", "establish", "estimate", "evaluate", "examine", "exist", "expect", "explain",
    "explore", "express", "extend", "felt", "find", "focus", "follow", "found", "gain", "gave",
    "generate", "give", "got", "held", "help", "hold", "identify", "illustrate", "implement", "improve",
    "include", "increase", "indicate", "introduce", "investigate", "involve", "keep", "kept", "knew",
    "know", "lead", "leave", "left", "let", "look", "made", "maintain", "make", "mean", "meet", "move",
    "need", "obtain", "occur", "offer", "outline", "perform", "pick", "play", "point", "pose",
    "present", "prove", "provide", "put", "raise", "reach", "receive", "reduce", "refer", "reflect",
    "relate", "rely", "remain", "report", "represent", "require", "reveal", "run", "said", "saw", "say",
    "see", "seek", "seem", "seen", "serve", "set", "shake", "show", "solve", "start", "state",
    "suggest", "supply", "take", "taken", "tend", "test", "think", "thought", "told", "took", "try",
    "turn", "understand", "want", "went", "yield"};

static char **g_verb_stems;
static size_t g_n_verb_stems;
static pthread_once_t g_verbs_once = PTHREAD_ONCE_INIT;

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void stem_verbs(void) {
    size_t n = sizeof VERBS / sizeof VERBS[0];
    char **stems = (char **)malloc(n * sizeof(char *));
    if (!stems) return;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char buf[64];
        if (slm_porter_stem(VERBS[i], strlen(VERBS[i]), buf, sizeof buf) < 0) continue;
        char *s = strdup(buf);
        if (s) stems[m++] = s;
    }
    qsort(stems, m, sizeof(char *), compare_strings);
    g_verb_stems = stems;
    g_n_verb_stems = m;
}

int kw_is_verb_stem(const char *stem) {
    pthread_once(&g_verbs_once, stem_verbs);
    if (!g_verb_stems) return 0;
    return bsearch(&stem, g_verb_stems, g_n_verb_stems, sizeof(char *), compare_strings) != NULL;
}
