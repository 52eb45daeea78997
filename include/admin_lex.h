/* admin_lex.h - the one lexer of the admin port's SQL side: blanks and comments, words,
 * quoted text and names, as MySQL writes them. The shortcuts (SHOW ..., KILL, USE), the
 * @@variables and the dialect's rewrites all read statements with it. */
#ifndef ADMIN_LEX_H
#define ADMIN_LEX_H

#include <stddef.h>

/* S past blanks and comments (slash-star, "-- ", "#"). An unclosed comment ends the text. */
const char *admin_lex_space(const char *s);

/* Does S start with the blank-separated WORDS (any case, any blanks, whole words)? Returns
 * what follows (blanks and comments skipped), or NULL. */
const char *admin_lex_words(const char *s, const char *words);

/* One name at S: `quoted`, "quoted", 'quoted' or bare (up to a blank, ';', '.', '@', '(' or
 * ')'), copied into BUF of LEN bytes. Returns what follows, blanks and comments skipped. */
const char *admin_lex_name(const char *s, char *buf, size_t len);

/* The length of the quoted text, the comment or else the single character at S (which the
 * text's end bounds at worst). */
size_t admin_lex_token(const char *s);

/* The length of the run of word characters (letters, digits, '_', '$') at S. */
size_t admin_lex_word(const char *s);

#endif
