/*-------------------------------------------------------------------------
 *
 * wt_cache.h
 *	  Declarations shared by the backend parts of wt_cache.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WT_CACHE_H
#define WT_CACHE_H

#include "valkey.h"

/* Schema the extension's objects live in (fixed: the control file says so) */
#define WTC_SCHEMA "wt_cache"

/* settings, in guc.c */
extern char *wtc_host;
extern int	wtc_port;
extern char *wtc_unix_socket;
extern int	wtc_connect_timeout_ms;
extern int	wtc_command_timeout_ms;
extern int	wtc_reply_spin_us;
extern void wtc_guc_init(void);

/* the backend's connection, in conn.c */
extern WtcConn wtc_backend_conn;
extern int	wtc_conn_ensure(void);
extern int	wtc_conn_ensure_unchecked(void);
extern int	wtc_conn_open_loaded(WtcConn *conn);
extern void wtc_conn_settings_changed(void);

/* module inits (commit.h has wtc_commit_init) */
extern void wtc_config_init(void);

#endif							/* WT_CACHE_H */
