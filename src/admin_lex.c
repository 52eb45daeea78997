/* admin_lex.c - the admin port's SQL lexer (admin_lex.h): blanks, comments, words, quoted
 * text and names, for the shortcuts, the @@variables and the dialect's rewrites.
 *
 * Thread: no state; called on rb_loop (the control thread). */
#include "admin_lex.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The length of the comment at S (slash-star to star-slash, "-- " or "#" to the end of the
 * line), 0 if none starts there. */
static size_t comment(const char *s)
{
    const char *e;

    if (s[0] == '/' && s[1] == '*') {
        e = strstr(s + 2, "*/");
        return e ? (size_t)(e - s) + 2 : strlen(s);
    }
    if ((s[0] == '-' && s[1] == '-' && (!s[2] || isspace((unsigned char)s[2]))) || s[0] == '#')
        return strcspn(s, "\n");
    return 0;
}

const char *admin_lex_space(const char *s)
{
    for (;;) {
        size_t n;

        while (isspace((unsigned char)*s))
            s++;
        if (!(n = comment(s)))
            return s;
        s += n;
    }
}

const char *admin_lex_words(const char *s, const char *words)
{
    while (*words) {
        size_t n = strcspn(words, " ");
        if (strncasecmp(s, words, n) || isalnum((unsigned char)s[n]) || s[n] == '_')
            return NULL;
        s = admin_lex_space(s + n);
        words += n;
        while (*words == ' ')
            words++;
    }
    return s;
}

const char *admin_lex_name(const char *s, char *buf, size_t len)
{
    size_t n;

    if (*s == '`' || *s == '"' || *s == '\'') {
        char q[2] = {*s++, 0};
        n = strcspn(s, q);
        snprintf(buf, len, "%.*s", (int)n, s);
        s += n + (s[n] == q[0]);
    } else {
        n = strcspn(s, " \t\r\n;.@()");
        snprintf(buf, len, "%.*s", (int)n, s);
        s += n;
    }
    return admin_lex_space(s);
}

size_t admin_lex_token(const char *s)
{
    const char *e;
    size_t n;

    if (*s == '\'' || *s == '"' || *s == '`') {
        e = strchr(s + 1, *s);
        return e ? (size_t)(e - s) + 1 : strlen(s);
    }
    n = comment(s);
    return n ? n : 1;
}

size_t admin_lex_word(const char *s)
{
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$");
}
