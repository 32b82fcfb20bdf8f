/* The decoder's reading of a submit_sm_resp message_id as a hexadecimal
 * number, parse_hex_tail16 (sixteen octets at once, from the PDU), and of
 * a receipt's id in both bases, parse_numbers_tail16 (sixteen octets at
 * once, decimal and hexadecimal), give what parse_numbers gives (a digit
 * at a time, in one base and in both), on ids of 1 to 16 octets
 * of hexadecimal digits in both cases with a non-digit anywhere (letters
 * past f, the octets next to the digit and letter ranges, octets at and
 * above 0x80 whose low bits are digits, NUL), each at the end of an
 * exact-size buffer behind sixteen octets of other PDU bytes (hex digits
 * among them, which must be masked off): a read past the id is a
 * sanitizer error.  decoder.c is built into this test, its public names
 * renamed, to reach its static functions. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#define decoder_config_default t_decoder_config_default
#define decoder_new t_decoder_new
#define decoder_free t_decoder_free
#define decoder_feed t_decoder_feed
#define decoder_flush t_decoder_flush
#define decoder_get_stats t_decoder_get_stats
#define decoder_stats_write_json t_decoder_stats_write_json
#include "../filter/decoder.c"
#pragma GCC diagnostic pop

static uint64_t rng = 0xD1B54A32D192ED03ULL;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static unsigned compared, numbers, decimals;

static void same_hex(const char *prefix16, const char *id, size_t len, int *mismatches)
{
    char *exact = malloc(16 + len);
    CHECK(exact != NULL);
    if (!exact)
        return;
    memcpy(exact, prefix16, 16);
    memcpy(exact + 16, id, len);
    uint64_t va = 1, vb = 2;
    int ra = parse_hex_tail16(exact + 16, len, &va);
    int rb = parse_numbers(exact + 16, len, PARSE_HEX, NULL, &vb) != 0;
    int same = ra == rb && (!ra || va == vb);
    if (!same && (*mismatches)++ < 5)
        CHECK_MSG(same, "hex readings differ on \"%.*s\": %d %llx / %d %llx", (int)len, id, ra,
                  (unsigned long long)va, rb, (unsigned long long)vb);
    uint64_t da = 3, ha = 4, db = 5, hb = 6;
    unsigned rc = parse_numbers_tail16(exact + 16, len, &da, &ha);
    unsigned rd = parse_numbers(exact + 16, len, PARSE_DEC | PARSE_HEX, &db, &hb);
    int same2 = rc == rd && (!(rc & PARSE_DEC) || da == db) && (!(rc & PARSE_HEX) || ha == hb);
    if (!same2 && (*mismatches)++ < 5)
        CHECK_MSG(same2, "two-base readings differ on \"%.*s\": %u %llu %llx / %u %llu %llx", (int)len, id, rc,
                  (unsigned long long)da, (unsigned long long)ha, rd, (unsigned long long)db,
                  (unsigned long long)hb);
    compared++;
    numbers += (unsigned)ra;
    decimals += (rc & PARSE_DEC) != 0;
    free(exact);
}

static void test_random(void)
{
    static const char hex[] = "0123456789abcdefABCDEF";
    static const char other[] = {'/', ':', '@', '`', 'g', 'G', 'z', '-', ' ', '\0', (char)0xB0,
                                 (char)0xB9, (char)0xE1, (char)0xC6, (char)0x80, (char)0xFF,
                                 0x10, 0x19, 0x20, 0x21, 0x5B, 0x60, 0x7F, 0x40, 0x47, 0x67};
    int mismatches = 0;
    char prefix[16], id[16];
    for (int round = 0; round < 300000; round++) {
        size_t len = 1 + next_rand() % 16;
        for (size_t i = 0; i < 16; i++)
            prefix[i] = next_rand() % 2 ? hex[next_rand() % 22] : (char)next_rand();
        for (size_t i = 0; i < len; i++)
            id[i] = next_rand() % 4 ? hex[next_rand() % 10] : hex[next_rand() % 22];
        if (next_rand() % 3 == 0)
            id[next_rand() % len] = other[next_rand() % sizeof other];
        same_hex(prefix, id, len, &mismatches);
    }
    static const char *const fixed[] = {"ffffffffffffffff", "FFFFFFFFFFFFFFFF", "0000000000000000",
                                        "0", "f", "8F0BD1EA", "1182248381", "00ABCDEF", "123456789abcdef0",
                                        "9999999999999999", "0000000000000001", "1", "10", "99999999",
                                        "100000000", "1234567890123456", "9"};
    memset(prefix, 'f', sizeof prefix);
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        same_hex(prefix, fixed[i], strlen(fixed[i]), &mismatches);
    CHECK_EQ_INT(mismatches, 0);
    CHECK(numbers > compared / 3);           /* both outcomes are reached */
    CHECK(compared - numbers > compared / 10);
    CHECK(decimals > compared / 10); /* and decimal readings */
}

/* A few readings written out, so that the two implementations cannot
 * agree on a wrong value. */
static void test_known(void)
{
    char buf[32] = "0123456789abcdef";
    uint64_t d = 0, h = 0;
    memcpy(buf + 16, "1182248381", 10);
    CHECK_EQ_INT(parse_numbers_tail16(buf + 16, 10, &d, &h), PARSE_DEC | PARSE_HEX);
    CHECK(d == 1182248381u && h == 0x1182248381u);
    memcpy(buf + 16, "9999999999999999", 16);
    CHECK_EQ_INT(parse_numbers_tail16(buf + 16, 16, &d, &h), PARSE_DEC | PARSE_HEX);
    CHECK(d == 9999999999999999u && h == 0x9999999999999999u);
    memcpy(buf + 16, "8F0BD1EA", 8);
    CHECK_EQ_INT(parse_numbers_tail16(buf + 16, 8, &d, &h), PARSE_HEX);
    CHECK(h == 0x8F0BD1EAu);
    memcpy(buf + 16, "12-4", 4);
    CHECK_EQ_INT(parse_numbers_tail16(buf + 16, 4, &d, &h), 0);
}

int main(void)
{
    test_random();
    test_known();
    return test_summary();
}
