/*-------------------------------------------------------------------------
 *
 * auth.c
 *	  Credentials and database of the connection to Valkey.
 *
 * Right after connecting, before the script is loaded, a connection sends
 * AUTH (when wt_cache.password_file is set: AUTH <user> <password> with
 * wt_cache.username, AUTH <password> without) and SELECT (when
 * wt_cache.database is not 0), in one round trip, within the connect's
 * deadline.  A refused AUTH or SELECT is a failed connection, and goes
 * where every failed connection goes (the keys are queued, the worker
 * probes again).
 *
 * There is no password setting on purpose: a setting's value can be read
 * by pg_read_all_settings and is written to the server log when a reload
 * changes it.  The password is read from a file instead, at every connect
 * (so a new password needs no reload), and only if the file is as private
 * as PostgreSQL requires of ssl_key_file: a regular file owned by the
 * server's OS user, without group or other permissions.
 *
 * NB: the password must never reach an error text: conn->errbuf ends up
 * in wt_cache.stats and in the server log.  Messages name the file and
 * what is wrong with it, never its content; an error reply of Valkey is
 * quoted only if it does not contain the password; and the buffers that
 * held the password are zeroed before returning.
 *
 * Like valkey.c, nothing here raises an ERROR or allocates from a memory
 * context: a connection is opened from the PRE_COMMIT callback and in the
 * worker's loop.  The only ereport is at LOG level, which does not throw.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hashfn.h"
#include "utils/timestamp.h"

#include "auth.h"
#include "commit.h"

/* Longest user name sent, in bytes */
#define USERNAME_MAX 256

/*
 * read_password
 *		Read the first line of wt_cache.password_file into pw (NUL
 *		terminated, without its line end) after checking that the file is
 *		private.  Returns its length, or -1 with why set.  A relative path
 *		is relative to the data directory, PostgreSQL processes' working
 *		directory.
 *
 * The file is opened first and then checked with fstat, so that what is
 * checked is what is read.  O_NONBLOCK keeps a FIFO from blocking the open;
 * such a file is refused as not regular anyway.
 */
static int
read_password(const char *path, char *pw, size_t pwsize, char *why,
			  size_t whysize)
{
	struct stat st;
	int			fd;
	size_t		len = 0;
	char	   *nl = NULL;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
	{
		snprintf(why, whysize, "could not open password file \"%s\": %s",
				 path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0)
	{
		snprintf(why, whysize, "could not stat password file \"%s\": %s",
				 path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode))
	{
		snprintf(why, whysize, "password file \"%s\" is not a regular file",
				 path);
		close(fd);
		return -1;
	}
	if (st.st_uid != geteuid())
	{
		snprintf(why, whysize,
				 "password file \"%s\" is not owned by the database system user (owner uid %u, server uid %u)",
				 path, (unsigned) st.st_uid, (unsigned) geteuid());
		close(fd);
		return -1;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		snprintf(why, whysize,
				 "password file \"%s\" has group or world access (permissions %04o; they must be u=rw (0600) or less)",
				 path, (unsigned) (st.st_mode & 07777));
		close(fd);
		return -1;
	}

	/* Read until the first line end, the end of the file, or the limit */
	while (len < pwsize - 1)
	{
		ssize_t		n = read(fd, pw + len, pwsize - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			snprintf(why, whysize, "could not read password file \"%s\": %s",
					 path, strerror(errno));
			close(fd);
			explicit_bzero(pw, pwsize);
			return -1;
		}
		if (n == 0)
			break;
		nl = memchr(pw + len, '\n', (size_t) n);
		len += (size_t) n;
		if (nl != NULL)
			break;
	}
	close(fd);

	if (nl != NULL)
	{
		/* Keep the first line only, and forget the rest of the file */
		explicit_bzero(nl, len - (size_t) (nl - pw));
		len = (size_t) (nl - pw);
	}
	else if (len == pwsize - 1)
	{
		snprintf(why, whysize,
				 "first line of password file \"%s\" is longer than %d bytes",
				 path, (int) pwsize - 2);
		explicit_bzero(pw, pwsize);
		return -1;
	}
	if (len > 0 && pw[len - 1] == '\r')
		pw[--len] = '\0';
	pw[len] = '\0';
	if (len == 0)
	{
		snprintf(why, whysize, "password file \"%s\" has an empty first line",
				 path);
		return -1;
	}
	return (int) len;
}

/*
 * Log a credentials problem, at most once per wt_cache.log_interval unless
 * it is a new one.  Outages are not logged here (their failures are
 * counted and logged where they are handled); a wrong password or an
 * unreadable password file does not go away by itself, so say it.
 */
static void
log_problem(const char *msg)
{
	static TimestampTz last_log = 0;
	static char last_msg[MAXPGPATH + 256];
	TimestampTz now = GetCurrentTimestamp();

	if (strcmp(msg, last_msg) == 0 &&
		!TimestampDifferenceExceeds(last_log, now, wtc_log_interval_ms))
		return;
	ereport(LOG,
			(errmsg("wt_cache could not log in to Valkey: %s", msg),
			 errhint("Check wt_cache.username, wt_cache.password_file and wt_cache.database.")));
	strlcpy(last_msg, msg, sizeof(last_msg));
	last_log = now;
}

/* Replies to AUTH and SELECT: the first error, in conn->errbuf */
typedef struct LoginReplies
{
	WtcConn    *conn;
	bool		with_auth;		/* the first reply is AUTH's */
	const char *pw;
	size_t		pwlen;
	bool		failed;
} LoginReplies;

static void
login_reply(void *arg, int index, const RespReply *reply, const char *buf,
			size_t len)
{
	LoginReplies *lr = (LoginReplies *) arg;
	const char *text = reply->str ? reply->str : "";
	size_t		textlen = reply->str ? reply->len : 0;

	if (lr->failed || (reply->type == '+' && textlen == 2 &&
					   memcmp(text, "OK", 2) == 0))
		return;
	lr->failed = true;

	/*
	 * Valkey's replies to AUTH do not echo the password, but quote nothing
	 * that does (a proxy in between might).
	 */
	if (lr->pwlen > 0 && textlen >= lr->pwlen &&
		memmem(text, textlen, lr->pw, lr->pwlen) != NULL)
	{
		text = "(reply not shown: it contains the password)";
		textlen = strlen(text);
	}
	if (!lr->with_auth || index > 0)
		snprintf(lr->conn->errbuf, sizeof(lr->conn->errbuf),
				 "SELECT %d refused: %.*s", wtc_database,
				 (int) Min(textlen, 200), text);
	else if (wtc_username[0] != '\0')
		snprintf(lr->conn->errbuf, sizeof(lr->conn->errbuf),
				 "AUTH as user \"%.64s\" refused: %.*s", wtc_username,
				 (int) Min(textlen, 160), text);
	else
		snprintf(lr->conn->errbuf, sizeof(lr->conn->errbuf),
				 "AUTH refused: %.*s", (int) Min(textlen, 200), text);
}

static size_t
append_bulk(char *dst, const char *s, size_t len)
{
	size_t		n = (size_t) sprintf(dst, "$%zu\r\n", len);

	memcpy(dst + n, s, len);
	memcpy(dst + n + len, "\r\n", 2);
	return n + len + 2;
}

/*
 * wtc_auth_login
 *		Log in on a new connection: AUTH and SELECT as the settings say, in
 *		one round trip, before deadline_us.  Returns 0 (also when there is
 *		nothing to send), or -1 with conn->errbuf set; the caller then
 *		closes the connection.  Never throws.
 */
int
wtc_auth_login(WtcConn *conn, int64_t deadline_us)
{
	/* AUTH user password, SELECT n: room for both and their headers */
	char		cmd[USERNAME_MAX + WTC_PASSWORD_MAX + 128];
	char		pw[WTC_PASSWORD_MAX + 2];
	char		why[MAXPGPATH + 256];
	const char *user = wtc_username ? wtc_username : "";
	const char *file = wtc_password_file ? wtc_password_file : "";
	LoginReplies lr;
	size_t		len = 0;
	int			nreplies = 0;
	int			pwlen = 0;
	int			rc;

	if (file[0] == '\0' && user[0] == '\0' && wtc_database == 0)
		return 0;

	memset(&lr, 0, sizeof(lr));
	lr.conn = conn;
	if (file[0] == '\0' && user[0] != '\0')
	{
		snprintf(why, sizeof(why),
				 "wt_cache.username is set but wt_cache.password_file is not");
		goto refused;
	}
	if (strlen(user) > USERNAME_MAX)
	{
		snprintf(why, sizeof(why), "wt_cache.username is longer than %d bytes",
				 USERNAME_MAX);
		goto refused;
	}
	if (file[0] != '\0')
	{
		pwlen = read_password(file, pw, sizeof(pw), why, sizeof(why));
		if (pwlen < 0)
			goto refused;
		len += sprintf(cmd + len, "*%d\r\n", user[0] != '\0' ? 3 : 2);
		len += append_bulk(cmd + len, "AUTH", 4);
		if (user[0] != '\0')
			len += append_bulk(cmd + len, user, strlen(user));
		len += append_bulk(cmd + len, pw, (size_t) pwlen);
		nreplies++;
		lr.with_auth = true;
		lr.pw = pw;
		lr.pwlen = (size_t) pwlen;
	}
	if (wtc_database != 0)
	{
		char		num[16];
		int			numlen = snprintf(num, sizeof(num), "%d", wtc_database);

		len += sprintf(cmd + len, "*2\r\n");
		len += append_bulk(cmd + len, "SELECT", 6);
		len += append_bulk(cmd + len, num, (size_t) numlen);
		nreplies++;
	}

	rc = wtc_conn_exchange(conn, cmd, len, nreplies, deadline_us,
						   login_reply, &lr);
	explicit_bzero(cmd, sizeof(cmd));
	explicit_bzero(pw, sizeof(pw));
	if (rc != 0)
		return -1;				/* I/O error or timeout: errbuf says which */
	if (lr.failed)
	{
		log_problem(conn->errbuf);
		return -1;
	}
	return 0;

refused:
	explicit_bzero(pw, sizeof(pw));
	strlcpy(conn->errbuf, why, sizeof(conn->errbuf));
	log_problem(why);
	return -1;
}

/*
 * wtc_auth_identity
 *		Who and where a new connection would log in (user, password file,
 *		database), as a short string to append to the connection's target:
 *		a connection opened with other settings is reopened.  The password
 *		itself is not part of it: it is read at connect time only.
 */
void
wtc_auth_identity(char *dst, size_t dstlen)
{
	const char *user = wtc_username ? wtc_username : "";
	const char *file = wtc_password_file ? wtc_password_file : "";
	uint64		h;

	if (user[0] == '\0' && file[0] == '\0' && wtc_database == 0)
	{
		dst[0] = '\0';
		return;
	}
	h = hash_bytes_extended((const unsigned char *) user, (int) strlen(user), 0);
	h = hash_bytes_extended((const unsigned char *) file, (int) strlen(file), h);
	snprintf(dst, dstlen, " db=%d auth=%016llx", wtc_database,
			 (unsigned long long) h);
}
