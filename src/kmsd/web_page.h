/* The web page (web/index.html), embedded at build time by web/gen_page.py. */
#ifndef KMSD_WEB_PAGE_H
#define KMSD_WEB_PAGE_H

#include <stddef.h>

extern const char kmsd_web_page[];
extern const size_t kmsd_web_page_len;

#endif
