/* web_page.h — the built-in web page the server answers GET / with (the only page it serves). */
#ifndef SLM_SERVE_WEB_PAGE_H
#define SLM_SERVE_WEB_PAGE_H
#include <stddef.h>

/* The page's HTML (static, NUL-terminated); *len gets its length in bytes. */
const char *serve_web_page(size_t *len);

#endif
