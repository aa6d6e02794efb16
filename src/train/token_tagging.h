/* token_tagging.h — BIO token classification over WordPiece windows (token_tagging.c): words of
 * a text, each word's WordPiece ids, windows of at most max_len ids ([CLS] ... [SEP]) with the
 * word tags projected onto the first piece of every word (the other pieces are left out of the
 * loss), and BIO spans decoded from word tags. Shared by training (finetune_tag.c) and the
 * supervised keyword extractor (task/keywords_supervised.c). */
#ifndef SLM_TRAIN_TOKEN_TAGGING_H
#define SLM_TRAIN_TOKEN_TAGGING_H
#include <stddef.h>
#include <stdint.h>

#include "slm.h"

/* Head rows, in this order: the label names written as slm.tagger.labels. */
enum { TAG_O = 0, TAG_B = 1, TAG_I = 2, TAG_K = 3 };

/* The byte range of one word in a text. */
typedef struct {
    uint32_t start, end;
} tag_word;

/* Splits text into words as the training data (Penn-Treebank tokens) does: at whitespace, with
 * leading and trailing punctuation peeled off one character at a time into words of their own
 * ("(IBS)," -> "(", "IBS", ")", ","); inner punctuation stays ("well-known", "3.5"). Invalid
 * UTF-8 bytes and NUL count as whitespace. *out (malloc'd, caller frees) gets *n words. */
slm_status tag_split_words(const char *text, size_t len, tag_word **out, int *n);

/* A document's words as WordPiece ids. */
typedef struct {
    int32_t *pieces;  /* all pieces, word after word */
    int *first;       /* (n_words + 1): word w's pieces are pieces[first[w] .. first[w + 1]) */
    int n_words, n_pieces;
} tag_pieces;

/* Tokenises each word (words[w], lens[w] bytes) alone with tok (no [CLS]/[SEP]); a word may get
 * no piece (then it has no tag position). tag_pieces_free releases out. */
slm_status tag_encode_words(const slm_tokenizer *tok, const char *const *words, const size_t *lens, int n_words,
                            tag_pieces *out);
void tag_pieces_free(tag_pieces *p);

/* Window starts (piece indices) covering n_pieces with windows of width = max_len - 2 pieces:
 * one window when they fit, else windows every width / 2 pieces, the last one ending at the
 * document's end. Writes up to cap starts and returns how many there are (call with cap 0 to
 * count). */
int tag_window_starts(int n_pieces, int max_len, int *starts, int cap);

/* Fills one window's row: [CLS] pieces[start .. start + width) [SEP] (width = max_len - 2, cut
 * at the document's end), *len ids. With word_tags (one TAG_* per word), labels gets the tag of
 * each word's first piece and -1 elsewhere ([CLS], [SEP], continuation pieces); len entries. */
void tag_window_row(const tag_pieces *doc, int start, int max_len, int32_t cls, int32_t sep, int32_t *row,
                    int *len, const uint8_t *word_tags, int32_t *labels);

/* Decodes BIO word tags into spans [start, end) of word indices: B opens a span, I continues the
 * open one (an I with none open opens one), O closes it. Writes up to cap spans and returns
 * how many there are. */
int tag_decode_spans(const uint8_t *tags, int n, int *span_start, int *span_end, int cap);

#endif
