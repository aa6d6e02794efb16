/* http.h — starting and stopping the server's HTTP daemon (libmicrohttpd). */
#ifndef SLM_SERVE_HTTP_H
#define SLM_SERVE_HTTP_H
#include <sys/socket.h>

#include "slm.h"

struct slm_server;
/* Starts listening on addr (its port 0: a free one) and sets srv->daemon and srv->port. */
slm_status serve_http_start(struct slm_server *srv, const struct sockaddr *addr, int ipv6);
/* Stops accepting connections (those open go on). */
void serve_http_quiesce(struct slm_server *srv);
/* Stops the daemon: open connections are closed, handlers finished. */
void serve_http_stop(struct slm_server *srv);

#endif
