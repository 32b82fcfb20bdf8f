/* The message log as the front ends run it (run, replay, proxy): its
 * settings from the configuration file, and its write failures said on
 * stderr, as they happen and at the end, so that a hole in the log is
 * never silent.  Used from the thread that ticks the front end. */
#ifndef SG_CMD_LOG_H
#define SG_CMD_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "msglog.h"

/* msglog_config from the file's [msglog] section, for msglog_new(); the
 * caller adds how the log is driven (block_when_full, multi_producer). */
struct msglog_config cmd_log_config(const struct config_msglog *c);

/* What has been said about a log's failures (zero-initialise). */
struct cmd_log_reports {
    uint64_t reported; /* msglog_last_error()'s count, as last reported */
    time_t at;         /* when that was */
};

/* At a tick: one atomic load, unless a transaction lost entries since the
 * last report; then one line naming the command ("run") and the last
 * error, at most once per CMD_LOG_REPORT_S (a disk that fails every
 * transaction must not flood stderr; the next line counts what came in
 * between) unless now_anyway. */
#define CMD_LOG_REPORT_S 10
void cmd_log_report_failures(msglog_t *log, const char *cmd, struct cmd_log_reports *r, bool now_anyway);

/* At the end, after msglog_flush() returned flush_rc: when entries failed,
 * prints "<prefix> error N failed writes; last: ..." (prefix: where the
 * summary's log line starts) and "smsguard <cmd>: message log DB is
 * incomplete: N entries failed to be written", counts them as reported,
 * and returns SG_EDB; otherwise returns flush_rc. */
int cmd_log_report_end(msglog_t *log, const char *cmd, const char *prefix, const char *db_path, int flush_rc,
                       struct cmd_log_reports *r);

#endif
