/* keywords_internal.h — what the keyword-extraction files share inside the library: the word
 * splitter and candidate phrases (candidates.c), the stopword list (stopwords.c), the
 * statistical scorer (keywords_stat.c) and phrase normalisation for evaluation. */
#ifndef SLM_TASK_KEYWORDS_INTERNAL_H
#define SLM_TASK_KEYWORDS_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "slm.h"

#endif
