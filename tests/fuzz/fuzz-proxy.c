/* libFuzzer target: the inline proxy's per-link input path (proxy.c through
 * proxy_feed_for_test(): framing, generic_nack, PDU decode, binds, the
 * pending-request tables and their window, judging, multipart holding and
 * expiry, receipts of our own, and receipt id rewriting), with arbitrary
 * bytes from both sides of two links, without sockets.
 *
 * Input: one option byte, then records:
 *   op (1 octet), length (2 octets, big endian), that many data octets.
 *   op & 0x80: expire every held multipart message and time out every
 *   pending request (no data);
 *   else data from side op & 1 (0 ESME, 1 SMSC) of link (op >> 1) & 1.
 * A link that the proxy closed (bad command_length) is opened again.
 * Option bits: 1 silent blocks, 2 monitor only (enforce 0), 4 fail closed,
 * 8 deliver_sm blocks answered with an error, 16 multipart forward mode,
 * 32 a judging budget that every message after the first record misses
 * (fixed clock: fail-open / fail-closed and the verified-sender path).
 * Each record is copied into an exact-size heap buffer (Suricata's habit)
 * and the link's input buffer past the buffered bytes is poisoned, so that
 * an overread is caught by AddressSanitizer.  Oracle: whatever the proxy
 * writes to a side is a whole number of framed PDUs.
 *
 *   CC=clang cmake -S . -B build-fuzz -DSMSGUARD_FUZZ=ON -DSMSGUARD_SANITIZE=ON
 *   cmake --build build-fuzz --target fuzz-proxy
 *   ./build-fuzz/tests/fuzz-proxy -max_total_time=600 tests/fuzz/corpus/fuzz-proxy
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lists.h"
#include "proxy.h"
#include "smpp.h"
#include "verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LINKS 2

static verdict_engine_t *engine;

static void setup(void)
{
    char err[256];
    engine = verdict_engine_new(NULL, err, sizeof err);
    if (!engine) {
        fprintf(stderr, "fuzz-proxy: %s\n", err);
        abort();
    }
    /* Something to block: a sender and an account, so the block paths
     * (error answers, silent answers with REJECTD receipts, MO drops) are
     * reachable from a few bytes. */
    lists_t *l = lists_new();
    struct lists_blacklist_entry b = {.id = 1, .kind = LISTS_BL_SENDER, .value = "SPAM",
                                      .reason = "fuzz", .created_at = 1};
    lists_add_blacklist(l, &b);
    b.id = 2, b.kind = LISTS_BL_ACCOUNT, b.value = "badacct";
    lists_add_blacklist(l, &b);
    struct lists_whitelist_entry w = {.id = 1, .sender = "MyBank", .ton = -1, .account = "bank",
                                      .verified_by = "fuzz", .verified_at = 1};
    lists_add_whitelist(l, &w);
    lists_seal(l);
    verdict_engine_set_lists(engine, l);
}

/* Every write to a side must be whole PDUs with a sane command_length. */
static void check_out(void *ctx, int link, int side, const uint8_t *p, size_t len)
{
    (void)ctx;
    (void)link;
    (void)side;
    size_t off = 0;
    while (off < len) {
        if (len - off < SMPP_HEADER_LEN)
            abort();
        uint32_t n = smpp_be32(p + off);
        if (n < SMPP_HEADER_LEN || n > SMPP_MAX_PDU_LEN || n > len - off)
            abort();
        off += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!engine)
        setup();
    if (size < 1)
        return 0;
    uint8_t opt = data[0];
    struct proxy_config c;
    proxy_config_default(&c);
    c.block_mode = opt & 1 ? PROXY_BLOCK_SILENT : PROXY_BLOCK_ERROR;
    c.enforce = !(opt & 2);
    c.fail_mode = opt & 4 ? PROXY_FAIL_CLOSED : PROXY_FAIL_OPEN;
    c.deliver_block_status = opt & 8 ? 0x45 : 0;
    c.mp_mode = opt & 16 ? PROXY_MP_FORWARD : PROXY_MP_HOLD;
    c.judge_budget_us = opt & 32 ? 1000 : 0;
    /* Small tables, so that the window, multipart eviction and id-map
     * eviction are reached by short inputs. */
    c.max_links = LINKS;
    c.window = 8;
    c.out_buf = 2 * (255u * 384u + 1024u);
    c.mp_max_messages = 4;
    c.mp_max_bytes = 16u * 384u;
    c.msgid_map_max = 8;
    char err[256];
    proxy_t *p = proxy_new_for_test(&c, engine, NULL, err, sizeof err);
    if (!p)
        abort();
    int links[LINKS];
    for (int i = 0; i < LINKS; i++)
        links[i] = proxy_link_open_for_test(p);
    if (opt & 32)
        proxy_clock_for_test(p, 1000000, 1000500); /* within the budget */
    int records = 0;

    size_t off = 1;
    while (off < size) {
        uint8_t op = data[off++];
        if (op & 0x80) {
            proxy_expire_for_test(p, UINT64_MAX / 2, check_out, NULL);
            continue;
        }
        size_t n = 0;
        if (size - off >= 2) {
            n = (size_t)data[off] << 8 | data[off + 1];
            off += 2;
        } else {
            off = size;
        }
        if (n > size - off)
            n = size - off;
        uint8_t *chunk = malloc(n ? n : 1);
        if (!chunk)
            break;
        memcpy(chunk, data + off, n);
        off += n;
        int li = (op >> 1) & 1, side = op & 1;
        if ((opt & 32) && records++ == 1)
            proxy_clock_for_test(p, 1000000, 1005000); /* from now on, over it */
        if (links[li] < 0)
            links[li] = proxy_link_open_for_test(p);
        size_t taken = 0;
        int rc = links[li] >= 0 ? proxy_feed_for_test(p, (unsigned)links[li], side, chunk, n,
                                                      &taken, check_out, NULL)
                                : 0;
        if (rc != 0)
            links[li] = -1; /* closed by the proxy: a fresh connection next time */
        free(chunk);
    }
    struct proxy_stats st;
    proxy_get_stats(p, &st);
    proxy_free(p);
    return 0;
}
