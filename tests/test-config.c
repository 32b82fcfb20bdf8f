/* Unit tests for the configuration file parser (filter/config.h): values
 * reach the decoder and verdict structs, every kind of error is reported
 * as "name:line: message" at the right line, and the shipped example
 * (etc/smsguard.conf) is exactly the bundled defaults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "testutil.h"

static char err[8192];

static int parse(struct config *c, const char *text)
{
    config_default(c);
    return config_parse(c, "t.conf", text, strlen(text), err, sizeof err);
}

/* The error text holds a line starting with "t.conf:LINE: " that contains
 * needle. */
static int has_error(int line, const char *needle)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "t.conf:%d: ", line);
    for (const char *p = err; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (strncmp(p, prefix, strlen(prefix)) == 0) {
            char buf[1024];
            snprintf(buf, sizeof buf, "%.*s", (int)n, p);
            if (strstr(buf, needle))
                return 1;
        }
        p += n + (nl ? 1 : 0);
    }
    return 0;
}

static int error_lines(void)
{
    int n = 0;
    for (const char *p = err; *p; p++)
        n += *p == '\n';
    return n;
}

static void test_example_from_issue(void)
{
    static struct config c;
    const char *text = "# smsguard.conf\n"
                       "[decoder]\n"
                       "max_flows = 262144\n"
                       "memcap = 256M\n"
                       "[link \"10.20.0.10:2775\"]\n"
                       "dc0 = latin1\n"
                       "msgid = hex-dec\n"
                       "[verdict]\n"
                       "block_at = 7   # stricter\n"
                       "sender_max_recipients = 50\n"
                       "window = 10m\n"
                       "clear_grace = 2h\n"
                       "volume_action = flag\n"
                       "country_code = 375\n"
                       "trunk_prefix = \"\"\n"
                       "[msglog]\n"
                       "retention_days = 30\n"
                       "[paths]\n"
                       "rules = \"/etc/smsguard/rules #1\"\n"
                       "db = /var/lib/smsguard/state.db\n";
    CHECK_EQ_INT(parse(&c, text), 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_INT(c.decoder.stream.max_flows, 262144);
    CHECK_EQ_INT(c.decoder.stream.max_buffered_bytes, 256u << 20);
    CHECK_EQ_INT(c.decoder.n_links, 1);
    CHECK_EQ_INT(c.decoder.links[0].smsc.port, 2775);
    CHECK_EQ_INT(c.decoder.links[0].smsc.is_v4, 1);
    CHECK_EQ_INT(c.decoder.links[0].smsc.addr[12], 10);
    CHECK_EQ_INT(c.decoder.links[0].smsc.addr[15], 10);
    CHECK_EQ_INT(c.decoder.links[0].text.dc0_charset, SMS_CS_LATIN1);
    CHECK_EQ_INT(c.decoder.links[0].msgid_format, DECODER_MSGID_HEX_DEC);
    CHECK_EQ_INT(c.decoder.links[0].text.gsm_packing, SMS_GSM_UNPACKED);
    CHECK_EQ_INT(c.verdict.block_at, 7);
    CHECK_EQ_INT(c.verdict.flag_at, 3);
    CHECK_EQ_INT(c.verdict.window_s, 600);
    CHECK_EQ_INT(c.verdict.clear_grace_s, 7200);
    CHECK_EQ_INT(c.verdict.volume_action, VERDICT_FLAG);
    CHECK_EQ_STR(c.verdict.country_code, "375");
    CHECK_EQ_STR(c.verdict.trunk_prefix, "");
    CHECK_EQ_INT(c.msglog.retention_days, 30);
    CHECK_EQ_STR(c.rules_dir, "/etc/smsguard/rules #1");
    CHECK_EQ_STR(c.db_path, "/var/lib/smsguard/state.db");
    CHECK_EQ_STR(c.rules_cache, "");
}

static void test_errors_with_locations(void)
{
    static struct config c;
    const char *text = "max_flows = 5\n"                /* 1: outside a section */
                       "[decoder]\n"                    /* 2 */
                       "max_flow = 10\n"                /* 3: unknown key */
                       "max_flows = ten\n"              /* 4: bad value */
                       "max_flows = 100\n"              /* 5: ok */
                       "max_flows = 200\n"              /* 6: duplicate */
                       "memcap = 1K\n"                  /* 7: below 64K */
                       "memcap = 12X\n"                 /* 8: bad size (not a duplicate: 7 failed) */
                       "flow_idle_timeout = 1500ms\n"   /* 9: not whole seconds */
                       "dc0 = ebcdic\n"                 /* 10: unknown charset */
                       "[decodr]\n"                     /* 11: unknown section */
                       "anything = 1\n"                 /* 12: skipped, header already reported */
                       "[link \"10.20.0.999\"]\n"       /* 13: bad address */
                       "[link \"10.20.0.10:2775\"]\n"   /* 14 */
                       "msgid = hex\n"                  /* 15: bad format */
                       "[link \"10.20.0.10:2775\"]\n"   /* 16: duplicate link */
                       "[verdict]\n"                    /* 17 */
                       "flag_at = 9\n"                  /* 18: above block_at 5 (reported at 18) */
                       "gsm_packed = yes\n"             /* 19: a decoder key in [verdict] */
                       "auto_blacklist = maybe\n"       /* 20: bad boolean */
                       "sender_max_recipients = -1\n"   /* 21: negative */
                       "country_code = 7a\n"            /* 22: not digits */
                       "just words\n"                   /* 23: no '=' */
                       "[paths]\n"                      /* 24 */
                       "db = \"unterminated\n"          /* 25 */
                       "rules = \"a\" b\n"              /* 26: text after the quoted value */
                       "rules_cache =\n";               /* 27: missing value */
    CHECK_EQ_INT(parse(&c, text), SG_EPARSE);
    CHECK_MSG(has_error(1, "outside a section"), "%s", err);
    CHECK_MSG(has_error(3, "unknown key 'max_flow' in [decoder]"), "%s", err);
    CHECK_MSG(has_error(4, "max_flows: 'ten' is not a non-negative number"), "%s", err);
    CHECK_MSG(has_error(6, "duplicate key 'max_flows' (first set at line 5)"), "%s", err);
    CHECK_MSG(has_error(7, "memcap: '1K' is out of range"), "%s", err);
    CHECK_MSG(has_error(8, "memcap: '12X' is not a size"), "%s", err);
    CHECK_MSG(has_error(9, "not a whole number of seconds"), "%s", err);
    CHECK_MSG(has_error(10, "unknown charset 'ebcdic'"), "%s", err);
    CHECK_MSG(has_error(11, "unknown section [decodr]"), "%s", err);
    CHECK_MSG(!has_error(12, ""), "%s", err);
    CHECK_MSG(has_error(13, "'10.20.0.999' is not an address"), "%s", err);
    CHECK_MSG(has_error(15, "unknown message id format 'hex'"), "%s", err);
    CHECK_MSG(has_error(16, "already defined at line 14"), "%s", err);
    CHECK_MSG(has_error(18, "block_at (5) is below flag_at (9)"), "%s", err);
    CHECK_MSG(has_error(19, "unknown key 'gsm_packed' in [verdict]"), "%s", err);
    CHECK_MSG(has_error(20, "not a boolean"), "%s", err);
    CHECK_MSG(has_error(21, "'-1' is not a non-negative number"), "%s", err);
    CHECK_MSG(has_error(22, "is not 1 to 3 digits"), "%s", err);
    CHECK_MSG(has_error(23, "expected 'key = value'"), "%s", err);
    CHECK_MSG(has_error(25, "unterminated quoted value"), "%s", err);
    CHECK_MSG(has_error(26, "text after the quoted value"), "%s", err);
    CHECK_MSG(has_error(27, "missing value for 'rules_cache'"), "%s", err);
    CHECK_EQ_INT(error_lines(), 21);
    /* Valid keys were still applied; the failed ones changed nothing. */
    CHECK_EQ_INT(c.decoder.stream.max_flows, 100);
    CHECK_EQ_INT(c.decoder.stream.max_buffered_bytes, 256u << 20);
    CHECK_EQ_INT(c.decoder.n_links, 1);
}

static void test_links_inherit_decoder_defaults(void)
{
    static struct config c;
    /* The link comes first; [decoder] later still sets its defaults. */
    const char *text = "[link \"[2001:db8:20::1]:2775\"]\n"
                       "msgid = same\n"
                       "[link \"10.20.1.20\"]\n"
                       "dc0 = ascii\n"
                       "gsm_packed = true\n"
                       "[decoder]\n"
                       "dc0 = latin1\n"
                       "dc1_gsm = on\n"
                       "msgid = dec-hex\n";
    CHECK_EQ_INT(parse(&c, text), 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_INT(c.decoder.n_links, 2);
    CHECK_EQ_INT(c.decoder.links[0].smsc.is_v4, 0);
    CHECK_EQ_INT(c.decoder.links[0].smsc.port, 2775);
    CHECK_EQ_INT(c.decoder.links[0].smsc.addr[0], 0x20);
    CHECK_EQ_INT(c.decoder.links[0].msgid_format, DECODER_MSGID_SAME);
    CHECK_EQ_INT(c.decoder.links[0].text.dc0_charset, SMS_CS_LATIN1);
    CHECK_EQ_INT(c.decoder.links[0].text.dc1_gsm, 1);
    CHECK_EQ_INT(c.decoder.links[1].smsc.port, 0);
    CHECK_EQ_INT(c.decoder.links[1].text.dc0_charset, SMS_CS_ASCII);
    CHECK_EQ_INT(c.decoder.links[1].text.gsm_packing, SMS_GSM_PACKED);
    CHECK_EQ_INT(c.decoder.links[1].msgid_format, DECODER_MSGID_DEC_HEX);
    CHECK_EQ_INT(c.decoder.text.dc0_charset, SMS_CS_LATIN1);
}

static void test_values(void)
{
    static struct config c;
    CHECK_EQ_INT(parse(&c, "[decoder]\r\ngap_timeout = 2s\r\nresponse_wait = 0\r\nmultipart_memcap = 1G\r\n"
                           "  ; indented comment\r\n\t[verdict] # trailing\r\nauto_blacklist_ttl = 1d\r\n"
                           "trust_unknown_account = off\r\nfingerprint_max_recipients = 0\r\n"),
                 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_INT(c.decoder.stream.gap_timeout_ms, 2000);
    CHECK_EQ_INT(c.decoder.response_wait_s, 0);
    CHECK_EQ_INT(c.decoder.concat.max_bytes, 1u << 30);
    CHECK_EQ_INT(c.verdict.auto_blacklist_ttl_s, 86400);
    CHECK_EQ_INT(c.verdict.trust_unknown_account, 0);
    CHECK_EQ_INT(c.verdict.fingerprint_max_recipients, 0);
    /* Overflow and range. */
    CHECK_EQ_INT(parse(&c, "[decoder]\nmemcap = 99999999999999999999\nmax_flows = 4294967296\n"
                           "[verdict]\nsender_max_recipients = 100001\n"
                           "clear_grace = 8d\n"), /* past the clears a lists snapshot holds */
                 SG_EPARSE);
    CHECK_MSG(has_error(2, "is not a non-negative number") && has_error(3, "out of range") &&
                  has_error(5, "out of range (0..100000)") && has_error(6, "clear_grace"),
              "%s", err);
    /* Booleans in any case, as the [proxy] sections' (cmd-links.c). */
    CHECK_EQ_INT(parse(&c, "[verdict]\nauto_blacklist = OFF\ntrust_unknown_account = Yes\n"), 0);
    CHECK_EQ_INT(c.verdict.auto_blacklist, 0);
    CHECK_EQ_INT(c.verdict.trust_unknown_account, 1);
    CHECK_EQ_INT(parse(&c, "[msglog]\nbatch_max = 1000001\n"), SG_EPARSE); /* past the writer's bound */
    CHECK_MSG(has_error(2, "batch_max"), "%s", err);
    CHECK_EQ_INT(parse(&c, "[msglog]\nbatch_max = 1000000\n"), 0);
    CHECK_EQ_INT(parse(&c, "[verdict]\nclear_grace = 7d\n"), 0);
    CHECK_EQ_INT(c.verdict.clear_grace_s, 7 * 86400);
    /* Bounds on the input. */
    char *big = malloc(CONFIG_MAX_LINE + 64);
    CHECK(big != NULL);
    if (big) {
        memset(big, 'a', CONFIG_MAX_LINE + 10);
        memcpy(big, "[paths]\nrules = ", 16);
        strcpy(big + CONFIG_MAX_LINE + 10, "\n");
        CHECK_EQ_INT(parse(&c, big), SG_EPARSE);
        CHECK_MSG(has_error(2, "line longer than"), "%s", err);
        free(big);
    }
    CHECK_EQ_INT(config_parse(&c, "t.conf", "x", CONFIG_MAX_BYTES + 1, err, sizeof err), SG_EINVAL);
    const char nul[] = "[verdict]\nflag_at = 1\0\n";
    config_default(&c);
    CHECK_EQ_INT(config_parse(&c, "t.conf", nul, sizeof nul - 1, err, sizeof err), SG_EPARSE);
    CHECK_MSG(has_error(2, "NUL byte"), "%s", err);
    /* A tiny error buffer holds whole lines only. */
    char small[40];
    config_default(&c);
    CHECK_EQ_INT(config_parse(&c, "t.conf", "a\nb\nc\n", 6, small, sizeof small), SG_EPARSE);
    CHECK(strlen(small) < sizeof small && (small[0] == '\0' || small[strlen(small) - 1] == '\n'));
}

static void test_proxy_sections(void)
{
    static struct config c;
    /* Kept as written, with their lines; '_' and '-' are one key. */
    CHECK_EQ_INT(parse(&c, "[proxy \"esme-a\"]\nlisten = 0.0.0.0:2775\nupstream = smsc:2775\n"
                           "block_status = 0x45\n[verdict]\nflag_at = 2\n[proxy \"b.2\"]\nmonitor = true\n"),
                 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_INT(c.n_proxies, 2);
    CHECK_EQ_STR(c.proxies[0].name, "esme-a");
    CHECK_EQ_INT(c.proxies[0].line, 1);
    CHECK_EQ_INT(c.proxies[0].n, 3);
    CHECK_EQ_STR(c.proxies[0].set[2].key, "block_status");
    CHECK_EQ_STR(c.proxies[0].set[2].value, "0x45");
    CHECK_EQ_INT(c.proxies[0].set[2].line, 4);
    CHECK_EQ_STR(c.proxies[1].set[0].key, "monitor");
    /* Errors at their lines. */
    CHECK_EQ_INT(parse(&c, "[proxy]\nlisten = x\n"), SG_EPARSE);
    CHECK(strstr(err, "t.conf:1: expected [proxy \"NAME\"]") != NULL);
    CHECK_EQ_INT(parse(&c, "[proxy \"a b\"]\n"), SG_EPARSE);
    CHECK(strstr(err, "t.conf:1: proxy name") != NULL);
    CHECK_EQ_INT(parse(&c, "[proxy \"a\"]\nblock_status = 1\nblock-status = 2\n"), SG_EPARSE);
    CHECK(strstr(err, "t.conf:3: duplicate key 'block_status' (first set at line 2)") != NULL);
    CHECK_EQ_INT(parse(&c, "[proxy \"a\"]\n[proxy \"a\"]\n"), SG_EPARSE);
    CHECK(strstr(err, "t.conf:2: proxy 'a' already defined at line 1") != NULL);
    /* Format -> parse -> format, a quote in a value included. */
    static char fa[1 << 18], fb[1 << 18];
    static struct config b;
    CHECK_EQ_INT(parse(&c, "[proxy \"q\"]\nlisten = \"127.0.0.1:1\\\"x\"\n"), 0);
    config_format(&c, fa, sizeof fa);
    config_default(&b);
    CHECK_EQ_INT(config_parse(&b, "t.conf", fa, strlen(fa), err, sizeof err), 0);
    config_format(&b, fb, sizeof fb);
    CHECK_EQ_STR(fa, fb);
    CHECK_EQ_STR(b.proxies[0].set[0].value, "127.0.0.1:1\"x");
}

static void test_round_trip_and_example(void)
{
    static struct config a, b;
    static char fa[65536], fb[65536];
    config_default(&a);
    size_t n = config_format(&a, fa, sizeof fa);
    CHECK(n > 0 && n < sizeof fa);
    /* Every key appears once: parsing the defaults' dump is clean. */
    CHECK_EQ_INT(parse(&b, fa), 0);
    CHECK_EQ_STR(err, "");
    /* A non-default configuration survives format -> parse -> format. */
    CHECK_EQ_INT(parse(&a, "[decoder]\nmemcap = 1000000\ngap_timeout = 1500ms\n[link \"10.0.0.1\"]\ndc0 = ascii\n"
                           "[link \"[::1]:99\"]\nmsgid = same\n[verdict]\nflag_at = 2\nwindow = 90\n"
                           "[paths]\ndb = \"x\\\"y\"\n"),
                 0);
    config_format(&a, fa, sizeof fa);
    config_default(&b);
    CHECK_EQ_INT(config_parse(&b, "t.conf", fa, strlen(fa), err, sizeof err), 0);
    CHECK_EQ_STR(err, "");
    config_format(&b, fb, sizeof fb);
    CHECK_EQ_STR(fa, fb);
    CHECK_EQ_STR(b.db_path, "x\"y");
    CHECK_EQ_INT(b.decoder.stream.gap_timeout_ms, 1500);
    CHECK_EQ_INT(b.decoder.n_links, 2);

    /* The shipped example: clean, and exactly the bundled defaults. */
    const char *path = test_source_path("etc/smsguard.conf");
    FILE *f = fopen(path, "rb");
    CHECK_MSG(f != NULL, "%s", path);
    if (!f)
        return;
    static char text[CONFIG_MAX_BYTES];
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    config_default(&b);
    CHECK_EQ_INT(config_parse(&b, "etc/smsguard.conf", text, len, err, sizeof err), 0);
    CHECK_EQ_STR(err, "");
    config_default(&a);
    config_format(&a, fa, sizeof fa);
    config_format(&b, fb, sizeof fb);
    CHECK_EQ_STR(fa, fb);
    /* ... and names every key: each "key = " of the dump is in the file. */
    for (char *line = strtok(fa, "\n"); line; line = strtok(NULL, "\n")) {
        char key[96];
        if (line[0] == '[' || sscanf(line, "# %95s = (not set)", key) == 1 || sscanf(line, "%95s =", key) == 1) {
            if (line[0] == '[')
                continue;
            char needle[128];
            snprintf(needle, sizeof needle, "\n%s =", key);
            char needle2[128];
            snprintf(needle2, sizeof needle2, "\n# %s =", key);
            CHECK_MSG(strstr(text, needle) || strstr(text, needle2), "etc/smsguard.conf lacks key %s", key);
        }
    }
}

int main(void)
{
    test_example_from_issue();
    test_errors_with_locations();
    test_links_inherit_decoder_defaults();
    test_values();
    test_proxy_sections();
    test_round_trip_and_example();
    return test_summary();
}
