/* The web page (web/index.html), embedded at build time by web/gen_page.py. */
#ifndef KMSD_WEB_PAGE_H
#define KMSD_WEB_PAGE_H

#include <stddef.h>

extern const char kmsd_web_page[];
extern const size_t kmsd_web_page_len;
/* The Content-Security-Policy sent with the page: its one inline script and style by their SHA-256, fetches from
 * kmsd only, nothing else (web/gen_page.py computes it and refuses a page it would block). */
extern const char kmsd_web_page_csp[];

#endif
