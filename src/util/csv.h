/* Private CSV line reader and cell tokenizer shared by the trace and data readers: one
 * line in memory at a time, 1-based line and column numbers for error messages, and
 * one number grammar (with nan/inf words) for every numeric cell gradscope reads. */
#ifndef GS_UTIL_CSV_H
#define GS_UTIL_CSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gradscope/status.h"

/* Longest line a reader accepts (bytes, without the newline): far beyond any real CSV row,
 * and it keeps a file without newlines (/dev/zero, a binary) from filling memory. */
#define GS_CSV_MAX_LINE ((size_t)1 << 20)

/* A CSV file being read line by line. Public fields are read-only for callers. */
typedef struct {
    FILE *fp;
    const char *path; /* borrowed; used in messages */
    char *line;       /* current line without its "\n" / "\r\n", NUL-terminated; may hold
                         NUL bytes (len counts them); writable until the next read */
    size_t len;       /* length of line */
    size_t lineno;    /* 1-based number of the current line */
    int eol;          /* 1 when the line ended with a newline; 0 for a last line cut off */
    uint64_t offset;  /* bytes of the file up to the end of the current line */
    /* private: the read buffer, lines point into it */
    char *buf;
    size_t cap, start, end; /* allocated bytes; unread data is buf[start..end) */
    uint64_t base;          /* file offset of buf[0] */
    int eof;
} GsCsvFile;

/* Opens path for reading; GS_ERR_IO "PATH: strerror" on failure (f then needs no close). */
GsStatus gs_csv_open(GsCsvFile *f, const char *path, GsError *err);
/* Closes the file and frees the buffer. Safe on a zeroed or closed GsCsvFile. */
void gs_csv_close(GsCsvFile *f);
/* Reads the next line into f->line; a UTF-8 byte order mark opening the file is skipped.
 * Returns 1 for a line, 0 at end of file, -1 with err filled and *st set: GS_ERR_IO on a
 * read error (naming the path), GS_ERR_FORMAT for a line longer than GS_CSV_MAX_LINE,
 * GS_ERR_NOMEM. */
int gs_csv_next_line(GsCsvFile *f, GsStatus *st, GsError *err);
/* 1 when the current line holds only spaces/tabs (readers skip such lines). */
int gs_csv_line_blank(const GsCsvFile *f);

/* Cursor over the cells of one line. */
typedef struct {
    const char *p;   /* start of the next cell */
    const char *end; /* end of the line */
    int more;        /* 1 while a cell remains (a trailing comma leaves one empty cell) */
    size_t col;      /* 1-based column number of the cell last returned */
} GsCsvCells;

/* Starts iterating the cells of line[0..len). Cannot fail. */
void gs_csv_cells_init(GsCsvCells *c, const char *line, size_t len);
/* Returns the next cell through cell and len, trimmed of spaces and tabs and of one pair of
 * enclosing double quotes (a quoted cell may contain commas). Returns 0 when the line has
 * no more cells. */
int gs_csv_cells_next(GsCsvCells *c, const char **cell, size_t *len);
/* Skips the next cell without trimming it (fast path for unwanted columns). Returns 0
 * when the line has no more cells. */
int gs_csv_cells_skip(GsCsvCells *c);

/* Parses s[0..len) as a whole number: decimal with optional sign, fraction and exponent,
 * or nan / inf / infinity in any case with an optional sign. Returns 1 and sets *out on
 * success, 0 when the text is not a number (including empty). Correctly rounded:
 * exact fast path for short mantissas, strtod otherwise. */
int gs_csv_parse_number(const char *s, size_t len, double *out);

/* Input bytes gs_csv_show renders before cutting off with "...", and the buffer it needs. */
#define GS_CSV_SHOW_MAX 40
#define GS_CSV_SHOW_CAP (GS_CSV_SHOW_MAX * 4 + 4)
/* Renders s[0..len) for quoting in a message: printable ASCII and well-formed UTF-8 as they
 * are, a backslash as \\, every other byte (NUL, control bytes, stray UTF-8) as \xNN; at
 * most GS_CSV_SHOW_MAX input bytes, then "...". Writes into out (GS_CSV_SHOW_CAP bytes) and
 * returns it. Cannot fail. */
const char *gs_csv_show(char *out, const char *s, size_t len);

/* Fills err with "PATH:LINE:COL: non-numeric value 'TEXT' in column 'NAME'" and returns
 * GS_ERR_FORMAT. TEXT is the cell as gs_csv_show renders it; NAME likewise. */
GsStatus gs_csv_err_nonnumeric(GsError *err, const char *path, size_t line, size_t col,
                               const char *cell, size_t len, const char *name);

/* Formats v exactly as printf("%.9g") does, but several times faster for normal values
 * (nan/inf/subnormal/huge values and rare rounding ties go through snprintf). buf needs
 * 32 bytes; returns the length written (NUL-terminated). Cannot fail. */
int gs_csv_format_g9(char *buf, double v);

#endif
