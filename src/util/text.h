/* Text helpers for messages about user input: the closest known name to a misspelling,
 * and quoting bytes a terminal would not show. */
#ifndef GS_UTIL_TEXT_H
#define GS_UTIL_TEXT_H

#include <stddef.h>

/* The entry of names[0..n) closest to word by edit distance (insert, delete, substitute,
 * swap two neighbours), when it is close enough to be a likely typo: at most 1 edit for
 * words of up to 4 characters, 2 up to 8, 3 beyond. NULL when nothing is that close or
 * word is already one of the names. Cannot fail. */
const char *gs_text_suggest(const char *word, const char *const *names, size_t n);

/* Copies s into buf (always NUL-terminated, truncated to size), writing control bytes,
 * DEL and bytes that are not part of valid UTF-8 as \xNN, so a quoted value cannot hide
 * characters or move the cursor. keep_newline keeps '\n' as is. Returns buf. */
char *gs_text_escape(const char *s, char *buf, size_t size, int keep_newline);

#endif
