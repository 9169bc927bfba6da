/*-------------------------------------------------------------------------
 *
 * auth.h
 *	  Credentials and database of the connection to Valkey: AUTH and SELECT
 *	  right after connecting.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_AUTH_H
#define WTC_AUTH_H

#include "valkey.h"

/* settings (guc.c defines them) */
extern char *wtc_username;
extern char *wtc_password_file;
extern int	wtc_database;

/* Longest password read from the password file, in bytes */
#define WTC_PASSWORD_MAX 1024

extern int	wtc_auth_login(WtcConn *conn, int64_t deadline_us);
extern void wtc_auth_identity(char *dst, size_t dstlen);

#endif							/* WTC_AUTH_H */
