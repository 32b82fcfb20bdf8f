#include "cmd-log.h"

#include <stdio.h>

struct msglog_config cmd_log_config(const struct config_msglog *c)
{
    _Static_assert(CONFIG_MSGLOG_BATCH_MAX == MSGLOG_BATCH_MAX,
                   "the configuration bounds batch_max where the writer does");
    return (struct msglog_config){
        .queue_capacity = (size_t)c->queue_capacity,
        .batch_max = (size_t)c->batch_max,
        .batch_window_ms = (unsigned)c->batch_window_ms,
        .retention_days = c->retention_days,
        .max_rows = c->max_rows,
        .prune_every_s = (int)c->prune_every_s,
    };
}

void cmd_log_report_failures(msglog_t *log, const char *cmd, struct cmd_log_reports *r, bool now_anyway)
{
    uint64_t n = msglog_last_error(log, NULL, 0);
    if (n == r->reported)
        return;
    time_t now = time(NULL);
    if (!now_anyway && r->reported && now - r->at < CMD_LOG_REPORT_S)
        return;
    char e[MSGLOG_ERROR_MAX];
    n = msglog_last_error(log, e, sizeof e);
    fprintf(stderr, "smsguard %s: message log: %llu failed write%s since the last report, entries lost; last: %s\n", cmd,
            (unsigned long long)(n - r->reported), n - r->reported == 1 ? "" : "s", e);
    r->reported = n;
    r->at = now;
}

int cmd_log_report_end(msglog_t *log, const char *cmd, const char *prefix, const char *db_path, int flush_rc,
                       struct cmd_log_reports *r)
{
    struct msglog_stats ms;
    msglog_get_stats(log, &ms);
    if (!ms.failed && !flush_rc)
        return 0;
    char e[MSGLOG_ERROR_MAX];
    uint64_t nerr = msglog_last_error(log, e, sizeof e);
    fprintf(stderr, "%s error %llu failed writes; last: %s\n", prefix, (unsigned long long)nerr,
            e[0] ? e : "(none recorded)");
    fprintf(stderr, "smsguard %s: message log %s is incomplete: %llu entries failed to be written\n", cmd, db_path,
            (unsigned long long)ms.failed);
    r->reported = nerr; /* said here: not again by a later tick */
    return SG_EDB;
}
