/* stats_pages.h - the pages of the HTTP stats port: Prometheus metrics, CSV, HTML.
 *
 * Each renderer appends one complete body, built from the running listeners and
 * servers, to a buffer; stats_http.c serves them. docs/monitoring.md lists every
 * metric and column. */
#ifndef STATS_PAGES_H
#define STATS_PAGES_H

#include "sbuf.h"

#define STATS_CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define STATS_CT_CSV     "text/csv; charset=utf-8; header=present"
#define STATS_CT_HTML    "text/html; charset=utf-8"

/* GET /metrics: Prometheus text exposition format 0.0.4. */
void stats_render_metrics(struct sbuf *b);
/* GET /stats.csv: a header row, then one row per server (RFC 4180, CRLF). */
void stats_render_csv(struct sbuf *b);
/* GET /: a self-contained HTML page, one table per listener. */
void stats_render_html(struct sbuf *b);

/* The escapers, exposed for the unit tests. Each also replaces bytes that are not
 * valid UTF-8 (and control characters) with '?', as all three formats are UTF-8. */

/* S as one CSV field: quoted (with "" for ") when it holds , " CR LF. */
void stats_csv_field(struct sbuf *b, const char *s);
/* S as HTML text or attribute value: & < > " ' escaped. */
void stats_html_text(struct sbuf *b, const char *s);
/* S as a Prometheus label value (without the quotes): \ " and newline escaped. */
void stats_prom_label(struct sbuf *b, const char *s);

#endif
